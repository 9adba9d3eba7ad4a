"""`--state FILE`: load the fake's state at start and keep FILE a current, whole snapshot.

Writes are atomic (a temporary file in the same directory, fsync, rename), so
FILE is always a complete snapshot: a `kill -9` at any moment loses at most
the changes of the last `delay` seconds and never leaves a half-written file.
A file that cannot be read or parsed stops the fake; it is never replaced.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from .engine.state import State


class StateFileError(Exception):
    """The state file exists but is not a usable snapshot."""


class StateFile:
    """Keeps `path` in step with `state`, writing at most every `delay` seconds."""

    def __init__(self, state: State, path: Path | str, delay: float = 0.05) -> None:
        self.state = state
        self.path = Path(path)
        self.delay = delay
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: str | None = None

    def load(self) -> bool:
        """Restore the state from the file, if it exists. Returns whether it did."""
        if not self.path.exists():
            return False
        try:
            snapshot = json.loads(self.path.read_bytes())
            self.state.restore(snapshot)
        except (OSError, ValueError) as e:
            raise StateFileError(
                f"state file {self.path} cannot be used ({type(e).__name__}: {e}); it was left as it is — "
                f"move it away or fix it"
            ) from None
        return True

    def start(self) -> None:
        """Write the current state now, then after every change."""
        self.write()
        self.state.on_change = self._dirty.set
        self._thread = threading.Thread(target=self._loop, name="openai-fake-state", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Write what is pending and stop watching."""
        self.state.on_change = None
        self._stop.set()
        self._dirty.set()
        if self._thread is not None:
            self._thread.join(10)
        self.write()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._dirty.wait()
            if self._stop.is_set():
                return
            self._stop.wait(self.delay)  # gather a burst of changes into one write
            self._dirty.clear()
            try:
                self.write()
                self.error = None
            except OSError as e:  # a full disk must not stop the fake; the last good file stays
                self.error = f"cannot write state file {self.path}: {e}"

    def write(self) -> None:
        """Write one whole snapshot atomically."""
        data = json.dumps(self.state.snapshot(), separators=(",", ":")).encode()
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)
        try:  # make the rename itself durable
            fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            pass
