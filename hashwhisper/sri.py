"""Subresource Integrity for our own scripts: ``{% module_script %}``.

The tag writes a ``<script type="module">`` whose ``integrity`` attribute is
the SHA-384 of the exact file the static server sends: the hashed, stored
copy under the manifest storage of production, the source file otherwise.
Digests are cached by file, modification time and size, so an edited file
in development gets a new digest instead of being refused by the browser.
"""

import base64
import hashlib
from functools import lru_cache
from pathlib import Path

from django import template
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import ManifestFilesMixin, staticfiles_storage
from django.templatetags.static import static
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()


def static_file_path(name: str) -> Path:
    """Where the file that the static server sends for ``name`` lives."""
    if isinstance(staticfiles_storage, ManifestFilesMixin):
        return Path(staticfiles_storage.path(staticfiles_storage.stored_name(name)))
    found = finders.find(name)
    if isinstance(found, str):
        return Path(found)
    return Path(staticfiles_storage.path(name))


@lru_cache(maxsize=128)
def _digest(location: str, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha384(Path(location).read_bytes()).digest()
    return "sha384-" + base64.b64encode(digest).decode("ascii")


def integrity(name: str) -> str:
    """The ``integrity`` value (``sha384-…``) of a static file."""
    location = static_file_path(name)
    stat = location.stat()
    return _digest(str(location), stat.st_mtime_ns, stat.st_size)


@register.simple_tag
def module_script(name: str) -> SafeString:
    """A module script tag for a static file, with its integrity hash."""
    return format_html(
        '<script type="module" src="{}" integrity="{}"></script>',
        static(name),
        integrity(name),
    )
