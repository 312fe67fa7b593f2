"""Product settings with django-eventstream configured as it ships."""

from urllib.parse import unquote, urlsplit

from hashwhisper.settings import *  # noqa: F403
from hashwhisper.settings import DATABASES, REDIS_URL

ROOT_URLCONF = "tests.realtime.unwrapped.urls"
EVENTSTREAM_STORAGE_CLASS = "django_eventstream.storage.DjangoModelStorage"
EVENTSTREAM_CHANNELMANAGER_CLASS = "tests.realtime.unwrapped.urls.GroupChannels"
if REDIS_URL:
    _redis = urlsplit(REDIS_URL)
    EVENTSTREAM_REDIS = {
        "host": _redis.hostname or "127.0.0.1",
        "port": _redis.port or 6379,
        "db": int(_redis.path.lstrip("/") or 0),
        "password": unquote(_redis.password) if _redis.password else None,
    }
# A stream that waits for a pooled connection gives up sooner, so the test
# sees the failure in seconds rather than after the default ten.
if "pool" in DATABASES["default"].get("OPTIONS", {}):
    DATABASES["default"]["OPTIONS"]["pool"]["timeout"] = 3
