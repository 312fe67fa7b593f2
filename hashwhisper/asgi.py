"""ASGI entry point: uvicorn serves this (SSE needs ASGI)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hashwhisper.settings")

application = get_asgi_application()
