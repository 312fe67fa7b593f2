"""Django's ASGI handler, running middleware and view in one thread hop.

Under ASGI Django builds its middleware chain for an async caller. Our
middleware and views are all synchronous, so Django's chain enters a worker
thread for the outer middleware, comes back to the event loop at the first
middleware that can run asynchronously (Django's own messages middleware),
and goes to the thread again for the view: three switches between loop and
thread for every request. Here the chain is built synchronously and entered
once, in the same thread-sensitive worker Django would use.

Responses still go out through Django's asynchronous code, so streaming
responses (downloads, the event stream's hand-over) are sent as before.
"""

from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler


class SyncChainASGIHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)
        chain: Any = getattr(self, "_middleware_chain")  # noqa: B009 - untyped in the stubs
        self._middleware_chain = sync_to_async(chain, thread_sensitive=True)
