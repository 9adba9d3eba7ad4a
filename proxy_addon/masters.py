"""More than one mitmproxy master in a process: each thread sees its own `mitmproxy.ctx`.

mitmproxy keeps "the" master in module globals (`mitmproxy.ctx.master`, `.options`,
`.log`), which every `Master()` overwrites, and its servers read them for every new
connection (`ProxyConnectionHandler(ctx.master, ..., ctx.options, ...)` in
`proxy/mode_servers.py`). So a second Runner in a process (a test's own fake beside the
session's, `openai_fake.running(...)` inside a test) took over the first one's connections
for good, even once stopped: they were answered by the second master's addons, whose TLS
certificates came from the second fake's CA, and every later client of the first fake
failed its handshake ("tlsv1 alert unknown ca").

A Runner builds its master in the thread that runs its event loop, and mitmproxy reads
`ctx` only from that loop (none of the hooks a fake uses runs in an executor), so keeping
the three names per thread gives each master its own context. A thread that never made a
master (a caller's) sees the one made last, as before.
"""

from __future__ import annotations

import threading
import types

_NAMES = ("master", "options", "log")


class _PerThreadContext(types.ModuleType):
    """`mitmproxy.ctx` with `master`, `options` and `log` kept per thread (falling back to the last set)."""

    _local = threading.local()
    _last: dict = {}


def _attribute(name: str) -> property:
    def get(module: _PerThreadContext):
        try:
            return getattr(_PerThreadContext._local, name)
        except AttributeError:
            pass
        try:
            return _PerThreadContext._last[name]
        except KeyError:
            raise AttributeError(f"module 'mitmproxy.ctx' has no attribute {name!r}") from None

    def set_(module: _PerThreadContext, value) -> None:
        setattr(_PerThreadContext._local, name, value)
        _PerThreadContext._last[name] = value

    return property(get, set_)


for _name in _NAMES:
    setattr(_PerThreadContext, _name, _attribute(_name))


def install() -> None:
    """Make `mitmproxy.ctx` per thread (once; idempotent). Values already set become the fallback."""
    from mitmproxy import ctx

    if isinstance(ctx, _PerThreadContext):
        return
    for name in _NAMES:
        if name in ctx.__dict__:
            _PerThreadContext._last[name] = ctx.__dict__.pop(name)
    ctx.__class__ = _PerThreadContext
