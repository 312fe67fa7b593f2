"""ASGI entry point: uvicorn serves this (SSE needs ASGI)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hashwhisper.settings")

django_application = get_asgi_application()

# Imported after Django is set up: the wrapper resolves routes to find each
# one's body limit.
from hashwhisper.asgi_limits import BodyLimitMiddleware  # noqa: E402

# Request bodies are counted as they stream in, so an upload past its limit
# is refused before Django has spooled all of it to disk.
application = BodyLimitMiddleware(django_application)
