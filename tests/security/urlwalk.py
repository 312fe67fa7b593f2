"""Every URL pattern of the project, turned into a concrete path.

The patterns are read from the URL configuration itself, so a view added
later is walked without anyone editing a list. Path converters and named
regular-expression groups are filled with sample values; values for the
names below come from the test (a real group, message or blob id), any
other name gets the first generic sample its pattern accepts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.resolvers import RegexPattern, RoutePattern

GENERIC_SAMPLES = ("1", "accounts", "x", "nothing-here/")
ROUTE_PARAMETER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")
NAMED_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>")


@dataclass(frozen=True)
class Route:
    path: str
    pattern: str
    callback: Callable[..., Any]

    @property
    def view_name(self) -> str:
        module = getattr(self.callback, "__module__", "")
        return f"{module}.{getattr(self.callback, '__name__', self.callback)}"


def _fill_route(route: str, samples: Mapping[str, str]) -> str:
    def sample(match: re.Match[str]) -> str:
        return samples.get(match["name"], "1")

    return ROUTE_PARAMETER.sub(sample, route)


def _group_end(regex: str, start: int) -> int:
    """Index just past the group that opens at ``start``."""
    depth, index = 0, start
    while index < len(regex):
        char = regex[index]
        if char == "\\":
            index += 2
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1
    raise ValueError(f"unbalanced group in {regex!r}")


def _fill_regex(regex: str, samples: Mapping[str, str]) -> str:
    text = regex.removeprefix("^").removesuffix("$").removesuffix(r"\Z")
    while (match := NAMED_GROUP.search(text)) is not None:
        end = _group_end(text, match.start())
        inner = text[match.end() : end - 1]
        name = match["name"]
        candidates = [samples[name]] if name in samples else []
        candidates += list(GENERIC_SAMPLES)
        chosen = next(c for c in candidates if re.fullmatch(inner, c))
        text = text[: match.start()] + chosen + text[end:]
    return text.replace("\\", "")


def _concrete(pattern: Any, samples: Mapping[str, str]) -> str:
    if isinstance(pattern, RoutePattern):
        return _fill_route(str(pattern), samples)
    if isinstance(pattern, RegexPattern):
        return _fill_regex(str(pattern), samples)
    raise TypeError(f"unknown pattern type {type(pattern).__name__}")


def _walk(
    entries: list[Any], prefix: str, raw: str, samples: Mapping[str, str]
) -> Iterator[Route]:
    for entry in entries:
        path = prefix + _concrete(entry.pattern, samples)
        shown = raw + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, path, shown, samples)
        elif isinstance(entry, URLPattern):
            yield Route("/" + path, shown, entry.callback)


# The event stream hands its database connection back before it starts
# streaming. Inside a test transaction that connection cannot be reopened,
# so walks request the stream last.
STREAM_PATHS = frozenset({"/events/"})


def project_routes(samples: Mapping[str, str]) -> list[Route]:
    """One concrete path per URL pattern, checked to resolve to its view.

    Streams come last (see ``STREAM_PATHS``).
    """
    routes = list(_walk(get_resolver().url_patterns, "", "", samples))
    for route in routes:
        match = resolve(route.path)
        assert match.func == route.callback, (route, match.func)
    return sorted(routes, key=lambda route: route.path in STREAM_PATHS)
