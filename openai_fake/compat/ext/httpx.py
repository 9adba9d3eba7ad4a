"""openai-responses' `ext.httpx`: the SDK's HTTP library, which for openai 3 is httpx2 (`Request`, `Response`,
`MockTransport`, `post`, ...), every public name of it. A `.response` takes an httpx `Response` too, where
httpx is installed."""

import httpx2
from httpx2 import AsyncClient, Client, Headers, MockTransport, Request, Response, get, post

# The names the seed's examples use, then the rest: the seed re-exported its HTTP library whole.
__all__ = ["AsyncClient", "Client", "Headers", "MockTransport", "Request", "Response", "get", "post"]
__all__ += [name for name in httpx2.__all__ if not name.startswith("_") and name not in __all__]
globals().update({name: getattr(httpx2, name) for name in __all__})
