"""Settings for the test suite: the production settings, with test values.

Tests run with production behaviour (HTTPS-only cookies, HSTS, CSP); the
test client asks over HTTPS. Service URLs come from the environment, so CI
runs the same suite against PostgreSQL and Redis.
"""

import os

os.environ.setdefault("HASHWHISPER_SECRET", "test-only-secret-" + "k" * 40)
os.environ.setdefault("HASHWHISPER_ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")

from hashwhisper.settings import *  # noqa: F403

# Pages render {% static %}; the manifest storage needs collectstatic to have
# run, which the suite does only in its own collectstatic test.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
