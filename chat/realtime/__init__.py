"""Live events: one Server-Sent Events stream per browser, fanned out by
Redis.

The pieces, each in its own module:

``config``   settings with their defaults.
``bus``      publishing an event to users' channels (Redis pub/sub, or the
             process itself without Redis), and the fan-out health log.
``hub``      the per-process subscriber: keeps one Redis subscription per
             user with an open stream here, resubscribes after outages and
             hands events to the streams; also the keep-alive tick and the
             presence sweep.
``storage``  django-eventstream storage that reads message events back from
             the message table, so a stream resumes from ``Last-Event-ID``.
``stream``   the ``/events/`` view: django-eventstream's listener and SSE
             encoding, driven by our own loop (see that module for why).
``handoff``  the ASGI wrapper that takes a stream over from Django once its
             middleware has checked the request, so open streams are cheap.
``presence`` heartbeats with a time-to-live, and typing notices.
``signals``  membership removals and logouts reach open streams.

django-eventstream 5.3.4 stays the event vocabulary (its event ids, its
``stream-open``/``keep-alive``/``stream-error``/``stream-reset`` events, its
listener queues); the modules above replace the parts of it that fail under
load or across processes (DESIGN.md, "Known pitfalls").
"""
