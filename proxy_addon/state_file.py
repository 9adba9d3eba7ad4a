"""`--state FILE`: load the fake's state at start and keep FILE a current, whole snapshot.

Every change is written before the call that made it returns (so before its reply
is sent): an object whose creation was acknowledged survives a `kill -9`, and the
id sequence saved with it means ids are never handed out twice across restarts.
Writes are atomic (a temporary file in the same directory, then a rename), so FILE
is always a complete snapshot; a process that dies keeps what the kernel has, and
the background thread adds an fsync, at most every `delay` seconds, for the disk.
FILE and its temporaries are mode 0600 (they hold uploaded files), and temporaries
that a killed fake left behind are removed at start. A file that cannot be read or
parsed stops the fake; it is never replaced.

The cost: each change re-encodes the whole snapshot, so a state holding large files
makes every change slower (README, "Security model": a store that writes one row per
change is the next step).
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
        self._writing = threading.Lock()  # one writer at a time: they share the temporary file
        self.error: str | None = None

    def load(self) -> bool:
        """Restore the state from the file, if it exists. Returns whether it did."""
        for leftover in self.path.parent.glob(f".{self.path.name}.*.tmp"):  # a killed fake's
            try:
                leftover.unlink()
            except OSError:
                pass
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
        self.state.on_change = self._changed
        self._thread = threading.Thread(target=self._loop, name="openai-fake-state", daemon=True)
        self._thread.start()

    def _changed(self) -> None:
        """Write the change now, in the caller's thread (acknowledged means on disk), and let the
        thread make it durable with an fsync soon after."""
        try:
            self.write(sync=False)
            self.error = None
        except OSError as e:  # a full disk must not stop the fake; the last good file stays
            self.error = f"cannot write state file {self.path}: {e}"
        self._dirty.set()

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

    def write(self, sync: bool = True) -> None:
        """Write one whole snapshot atomically; `sync`: and fsync it and the directory."""
        with self._writing:
            data = json.dumps(self.state.snapshot(), separators=(",", ":")).encode()
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o600)
            try:
                os.fchmod(fd, 0o600)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                if sync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        if not sync:
            return
        try:  # make the rename itself durable
            fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            pass
