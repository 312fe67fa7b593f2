"""The header set every HashWhisper response carries, as one check."""

from __future__ import annotations

from typing import Any

from django.conf import settings

EXPECTED_CSP = {
    "default-src": {"'none'"},
    "script-src": {"'self'"},
    "style-src": {"'self'"},
    "img-src": {"'self'", "data:", "blob:"},
    "media-src": {"'self'", "blob:"},
    "font-src": {"'self'"},
    "connect-src": {"'self'"},
    "manifest-src": {"'self'"},
    "worker-src": {"'self'"},
    "object-src": {"'none'"},
    "base-uri": {"'none'"},
    "form-action": {"'self'"},
    "frame-ancestors": {"'none'"},
}
HSTS = "max-age=31536000; includeSubDomains; preload"
FIXED = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
}
# Everything a page may need stays limited to this origin; the rest is off.
PERMISSIONS_ALLOWED = {"camera": "(self)", "microphone": "(self)"}


def csp_directives(header: str) -> dict[str, set[str]]:
    directives: dict[str, set[str]] = {}
    for part in header.split(";"):
        tokens = part.split()
        if tokens:
            directives[tokens[0].lower()] = set(tokens[1:])
    return directives


def permissions(header: str) -> dict[str, str]:
    found = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        found[name] = value
    return found


def header_problems(
    response: Any, *, https: bool = True, dynamic: bool = True
) -> list[str]:
    """What is missing or wrong in ``response``'s security headers."""
    problems = []
    csp = response.get("Content-Security-Policy")
    if csp is None:
        problems.append("no Content-Security-Policy")
    elif csp_directives(csp) != EXPECTED_CSP:
        problems.append(f"CSP is {csp!r}")
    if https and response.get("Strict-Transport-Security") != HSTS:
        problems.append(f"HSTS is {response.get('Strict-Transport-Security')!r}")
    for name, value in FIXED.items():
        if response.get(name) != value:
            problems.append(f"{name} is {response.get(name)!r}")
    policy = response.get("Permissions-Policy")
    if policy != settings.HASHWHISPER_PERMISSIONS_POLICY:
        problems.append(f"Permissions-Policy is {policy!r}")
    else:
        for feature, allowed in permissions(policy).items():
            if allowed != PERMISSIONS_ALLOWED.get(feature, "()"):
                problems.append(f"Permissions-Policy allows {feature}={allowed}")
    if dynamic:
        directives = {
            part.strip().lower()
            for part in response.get("Cache-Control", "").split(",")
        }
        if "no-store" not in directives:
            problems.append(f"Cache-Control is {response.get('Cache-Control')!r}")
    if response.get("Access-Control-Allow-Origin") == "*":
        problems.append("Access-Control-Allow-Origin is *")
    return problems
