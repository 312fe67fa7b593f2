"""Django's own ASGI handler over the bare views (no middleware), for the
all-async Django floor of the latency benchmark."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.bare.settings")
application = get_asgi_application()
