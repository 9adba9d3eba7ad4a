"""openai-responses' `ext.respx`: respx's names for what the fake keeps of a route (`Route`, `Call`, `CallList`,
the router). The fake is not respx: there is no patching, and other hosts are faked through the proxy."""

from .._mock import Call, CallList, Route, Router as MockRouter

__all__ = ["Route", "Call", "CallList", "MockRouter"]
