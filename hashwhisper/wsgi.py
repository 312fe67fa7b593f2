"""WSGI entry point, for management tooling only: live events need ASGI."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hashwhisper.settings")

application = get_wsgi_application()
