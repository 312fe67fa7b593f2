"""ASGI entry point: uvicorn serves this (SSE needs ASGI)."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hashwhisper.settings")
django.setup(set_prefix=False)

# Imported once Django is set up, as get_asgi_application() would.
from hashwhisper.handler import SyncChainASGIHandler  # noqa: E402

django_application = SyncChainASGIHandler()

# Imported after Django is set up: the wrappers resolve routes to find each
# one's body limit, and use the event library's settings.
from chat.realtime.handoff import StreamHandoff  # noqa: E402
from hashwhisper.asgi_limits import BodyLimitMiddleware  # noqa: E402

# Request bodies are counted as they stream in, so an upload past its limit
# is refused before Django has spooled all of it to disk. Event streams are
# taken over once Django has checked and answered the request, so an open
# stream holds none of Django's request state.
application = StreamHandoff(BodyLimitMiddleware(django_application))
