"""Vendored assets survive collectstatic and match their documented versions.

Production serves static files through WhiteNoise's compressed manifest
storage, which rewrites every ``url()`` and ``sourceMappingURL`` reference to
a hashed name and fails when a referenced file is missing. The collection
runs in a child process with settings of its own, so it neither needs nor
disturbs the Django settings of the test session.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.browser import STATIC_ROOT

VENDOR = STATIC_ROOT / "vendor"
OWN_FILES = ["js/qr.js", "js/theme.js", "css/app.css"]

COLLECT = """
import sys
import django
from django.conf import settings
from django.core.management import call_command

source, target = sys.argv[1], sys.argv[2]
settings.configure(
    INSTALLED_APPS=["django.contrib.staticfiles"],
    STATIC_URL="/static/",
    STATIC_ROOT=target,
    STATICFILES_DIRS=[source],
    STORAGES={
        "staticfiles": {
            "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        }
    },
)
django.setup()
call_command("collectstatic", interactive=False, verbosity=0)
"""

SOURCE_MAP = re.compile(r"sourceMappingURL=(\S+?)(?:\s*\*/)?\s*$")
CSS_URL = re.compile(r"""url\(['"]?([^'")]+)['"]?\)""")


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """Collect the vendored files and ours; give the root and the manifest."""
    source = tmp_path_factory.mktemp("static-source")
    target = tmp_path_factory.mktemp("static-root")
    shutil.copytree(VENDOR, source / "vendor")
    for name in OWN_FILES:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(STATIC_ROOT / name, source / name)

    result = subprocess.run(
        [sys.executable, "-c", COLLECT, str(source), str(target)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads((target / "staticfiles.json").read_text())
    return target, manifest["paths"]


@pytest.mark.parametrize(
    "name",
    [
        "vendor/bootstrap/css/bootstrap.min.css",
        "vendor/bootstrap/js/bootstrap.bundle.min.js",
    ],
)
def test_source_maps_resolve_to_hashed_files(
    collected: tuple[Path, dict[str, str]], name: str
) -> None:
    root, paths = collected
    hashed = root / paths[name]
    match = SOURCE_MAP.search(hashed.read_text(encoding="utf-8"))
    assert match is not None
    map_file = hashed.parent / match.group(1)
    assert map_file.is_file()
    assert map_file.name == Path(paths[name + ".map"]).name


@pytest.mark.parametrize("style", ["solid", "regular"])
def test_font_urls_resolve_to_hashed_files(
    collected: tuple[Path, dict[str, str]], style: str
) -> None:
    root, paths = collected
    hashed = root / paths[f"vendor/fontawesome/css/{style}.min.css"]
    urls = CSS_URL.findall(hashed.read_text(encoding="utf-8"))
    assert any(url.endswith(".woff2") for url in urls)
    for url in urls:
        target = (hashed.parent / url).resolve()
        assert target.is_file(), url
        assert target.relative_to(root).as_posix() in paths.values()


def test_our_files_are_collected(collected: tuple[Path, dict[str, str]]) -> None:
    root, paths = collected
    for name in OWN_FILES:
        assert (root / paths[name]).is_file()


def test_vendored_versions_match_the_readme() -> None:
    readme = (VENDOR / "README.md").read_text(encoding="utf-8")
    bootstrap = (VENDOR / "bootstrap/css/bootstrap.min.css").read_text(encoding="utf-8")
    awesome = (VENDOR / "fontawesome/css/fontawesome.min.css").read_text(
        encoding="utf-8"
    )
    bootstrap_version = re.search(r"Bootstrap\s+v(\d+\.\d+\.\d+)", bootstrap)
    awesome_version = re.search(r"Font Awesome Free (\d+\.\d+\.\d+)", awesome)
    assert bootstrap_version is not None and awesome_version is not None

    assert bootstrap_version.group(1).startswith("5.3.")
    assert awesome_version.group(1).startswith("6.")
    assert f"| `bootstrap` | {bootstrap_version.group(1)} |" in readme
    assert f"| `@fortawesome/fontawesome-free` | {awesome_version.group(1)} |" in readme
    assert "| `qrcode-generator` | 2.0.4 |" in readme
    for licence in [
        "bootstrap/LICENSE",
        "fontawesome/LICENSE.txt",
        "qrcode-generator/LICENSE",
    ]:
        assert (VENDOR / licence).is_file()


def test_our_browser_files_load_nothing_from_elsewhere() -> None:
    """No CDN or remote import, and no markup or code built from strings."""
    css = (STATIC_ROOT / "css/app.css").read_text(encoding="utf-8")
    assert "@import" not in css
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", css)
    for name in ["js/qr.js", "js/theme.js"]:
        script = (STATIC_ROOT / name).read_text(encoding="utf-8")
        assert not re.search(r"https?://", script.replace("http://www.w3.org/", ""))
        for forbidden in ["innerHTML", "outerHTML", "insertAdjacentHTML", "eval("]:
            assert forbidden not in script, (name, forbidden)
        assert "new Function" not in script
