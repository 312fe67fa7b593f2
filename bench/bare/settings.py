"""Product settings with no middleware and the bare views as the only URLs."""

from hashwhisper.settings import *  # noqa: F403

MIDDLEWARE = []
ROOT_URLCONF = "bench.bare.urls"
