"""openai-responses' builders: SDK objects made from a create request (as the fake would answer it, with
`extra` laid over), or from a partial dict (`build_message`, `build_run_step`), ids and times filled in."""

from . import (assistants, chat, embeddings, messages, moderations, run_steps, runs, threads, vector_store_files,
               vector_stores)

__all__ = ["assistants", "chat", "embeddings", "messages", "moderations", "run_steps", "runs", "threads",
           "vector_store_files", "vector_stores"]
