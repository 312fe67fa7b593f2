"""Django's ASGI handler, with fewer thread switches and no thread per request.

Under ASGI Django builds its middleware chain for an async caller. Our
middleware and views are all synchronous, so Django's chain enters a worker
thread for the outer middleware, comes back to the event loop at the first
middleware that can run asynchronously (Django's own messages middleware),
and goes to the thread again for the view: three switches between loop and
thread for every request. Here the chain is built synchronously and entered
once.

Django also gives every request a thread of its own: a new single-thread
executor, started for the request and joined (from yet another new thread)
when it ends. Here a request borrows an idle single-thread executor from a
small pool and gives it back when it ends (asgiref's
``ThreadSensitiveContext(executor=...)``), so a request still runs all its
synchronous code on one thread that no other request uses meanwhile, as
Django's handler guarantees, without starting two threads each time.
A reused thread keeps what Django keeps per thread, database connections
among them, as a WSGI server's threads do. With ``CONN_MAX_AGE=0`` (our
settings) each request's connection goes back to the pool when the request
finishes, on the request's own thread; a longer ``CONN_MAX_AGE`` would keep
a connection open on each idle thread of the pool.

Django's handler also goes to the thread before the chain, to send
``request_started``, and again after sending the answer, to close the
response (which sends ``request_finished``, on which the request's
database connection is let go). Here the signal, the chain and, for an
answer that is already whole in memory (everything but a streaming
response), the closing all happen in that one visit; the bytes are sent
afterwards. A streaming response (downloads) is still closed after its
last chunk, as Django does. So a request costs one trip to its thread,
not three.
"""

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import FileResponse, HttpRequest, HttpResponseBase
from django.urls import set_script_prefix

# Idle executors kept for the next requests; more than this many at once
# (a burst) are shut down as their requests end. Each idle thread keeps its
# stack and malloc arena: with 32 kept, the benchmark's memory per idle
# stream rose from 0.90x to 1.22x of the relay's; with 8, 1.04x.
IDLE_EXECUTORS = 8

log = logging.getLogger("hashwhisper.handler")


class RequestExecutor(ThreadPoolExecutor):
    """One thread, running one request's synchronous calls in order."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="hw-request")
        self.last: Future[Any] | None = None

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        future = super().submit(fn, *args, **kwargs)
        self.last = future
        return future

    def idle(self) -> bool:
        # Calls run one at a time, in order: when the last one is done, all
        # are. One still running belongs to a request that was cancelled
        # (its client went away) while its synchronous code ran on.
        return self.last is None or self.last.done()


class ExecutorPool:
    def __init__(self, keep: int = IDLE_EXECUTORS) -> None:
        self.keep = keep
        self.idle: list[RequestExecutor] = []
        self.lock = threading.Lock()
        self.started = 0

    def take(self) -> RequestExecutor:
        with self.lock:
            if self.idle:
                return self.idle.pop()
            self.started += 1
        return RequestExecutor()

    def give_back(self, executor: RequestExecutor) -> None:
        if executor.idle():
            executor.last = None
            with self.lock:
                if len(self.idle) < self.keep:
                    self.idle.append(executor)
                    return
        # Busy (its thread ends once the call finishes) or one too many.
        executor.shutdown(wait=False)


class SyncChainASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        super().__init__()
        self.executors = ExecutorPool()

    def load_middleware(self, is_async: bool = False) -> None:
        # The synchronous chain, entered by ``respond`` on the request's
        # thread.
        super().load_middleware(is_async=False)

    def respond(self, request: HttpRequest, scope: Any) -> HttpResponseBase:
        """Everything a request needs of its thread, in one visit."""
        signals.request_started.send(sender=self.__class__, scope=scope)
        # Django's synchronous path: URL conf, the chain, the request among
        # the response's closers, and the log line of an error answer.
        response = self.get_response(request)
        response._handler_class = self.__class__  # type: ignore[attr-defined]
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size
        if not response.streaming:
            # Whole in memory: nothing left to do on this thread once sent.
            try:
                response.close()
            except Exception:
                # Django closes after sending, where a failing closer (a
                # request_finished receiver) cannot change the answer: the
                # same here. Logged, and the answer still goes out.
                log.exception("closing a response failed")
        return response

    async def handle(self, scope: Any, receive: Any, send: Any) -> None:
        """Django's ``ASGIHandler.handle``, visiting the request's thread
        once (``respond``) instead of three times."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        try:
            await self.serve(scope, body_file, receive, send)
        finally:
            body_file.close()

    async def serve(self, scope: Any, body_file: Any, receive: Any, send: Any) -> None:
        request, refusal = self.create_request(scope, body_file)
        if request is None or refusal is not None:
            await signals.request_started.asend(sender=self.__class__, scope=scope)
            if refusal is not None:
                await self.send_response(refusal, send)
                await sync_to_async(refusal.close)()
            return

        async def answer() -> HttpResponseBase:
            response = await sync_to_async(self.respond, thread_sensitive=True)(
                request, scope
            )
            # A client that left meanwhile is no error of ours.
            with contextlib.suppress(asyncio.CancelledError):
                await self.send_response(response, send)
            return response

        # As Django does: a client that goes away cancels the answer.
        listener = asyncio.create_task(self.listen_for_disconnect(receive))
        answering = asyncio.create_task(answer())
        await asyncio.wait({listener, answering}, return_when=asyncio.FIRST_COMPLETED)
        for task in (listener, answering):
            if task.done():
                with contextlib.suppress(RequestAborted):
                    task.result()
            else:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        try:
            response = answering.result()
        except asyncio.CancelledError:
            # As Django does. Runs on the request's thread after ``respond``
            # (which may have sent it already: its receivers, such as
            # closing the database connection, do nothing the second time).
            await signals.request_finished.asend(sender=self.__class__)
        else:
            if response.streaming:
                await sync_to_async(response.close)()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            # Django's own refusal of anything but HTTP.
            await super().__call__(scope, receive, send)
            return
        executor = self.executors.take()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            self.executors.give_back(executor)
