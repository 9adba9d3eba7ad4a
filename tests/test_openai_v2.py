"""The Python openai 2.x SDK (httpx + certifi) under `openai-fake exec`, in its own venv.

The project itself pins openai 3.x, so 2.x lives in a separate venv:
    python3.12 -m venv .venv-openai2 && .venv-openai2/bin/pip install "openai>=2,<3"
or point OPENAI_FAKE_V2_PYTHON at another interpreter that has it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import ROOT, run_cli

pytestmark = pytest.mark.slow

SCRIPT = '''
import sys
import openai

mode = sys.argv[1]
client = openai.OpenAI(max_retries=0, timeout=20)  # key (and base URL) from the environment
if mode == "proxy":  # must reach "https://api.openai.com" itself, through HTTPS_PROXY
    assert client.base_url.host == "api.openai.com", client.base_url
else:
    assert client.base_url.host == "127.0.0.1", client.base_url

chat = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hello"}])
assert chat.choices and chat.choices[0].message.content, chat

emb = client.embeddings.create(model="text-embedding-3-small", input="hello", encoding_format="float")
vector = emb.data[0].embedding
assert len(vector) == 1536 and all(isinstance(x, float) for x in vector), len(vector)

chunks = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Stream"}], stream=True)
text = "".join(c.choices[0].delta.content or "" for c in chunks)
assert text == "This is a fake answer from openai-fake. You said: Stream", text

with client.responses.stream(model="gpt-4o-mini", input="Respond") as stream:
    deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
    final = stream.get_final_response()
assert len(deltas) > 3 and final.output_text == "".join(deltas), (deltas, final)

print("openai", openai.__version__)
'''


@pytest.fixture
def v2_python() -> Path:
    python = Path(os.environ.get("OPENAI_FAKE_V2_PYTHON") or ROOT / ".venv-openai2" / "bin" / "python")
    if not python.exists():
        pytest.skip(f"no openai 2.x interpreter at {python}: create .venv-openai2 or set OPENAI_FAKE_V2_PYTHON")
    return python


@pytest.mark.parametrize("mode", ["proxy", "base-url"])
def test_openai_v2_sdk(mode, v2_python, tmp_path, monkeypatch):
    # run_cli passes this process's environment on: keep an outer base URL, key
    # or NO_PROXY from steering the child away from the fake.
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    script = tmp_path / "v2_check.py"
    script.write_text(SCRIPT)
    flags = ["--base-url"] if mode == "base-url" else []

    result = run_cli(
        "exec", "--confdir", str(tmp_path / "conf"), *flags, "--",
        str(v2_python), str(script), mode,
        timeout=120,
    )

    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.stdout.startswith("openai 2."), result.stdout
    summary = result.stderr.strip().splitlines()[-1]
    assert summary == "openai-fake: 4 calls (4×200); chat.completions 2, embeddings 1, responses 1", summary
