"""The MDN HTTP Observatory's scoring rules (checklist A2), as a scorer.

Each test maps a scan to one outcome with a score modifier; the score starts
at 100 and adds them, bonuses counting only when the penalties alone leave
at least 90. The grade is the score rounded down to a multiple of five, and
100 or more is A+. Preloading HSTS needs the browsers' list, which no
deployment can join by itself, so a scan here is never "preloaded".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from http.cookies import Morsel
from typing import Any

MINIMUM_SCORE_FOR_EXTRA_CREDIT = 90
SIX_MONTHS = 15_552_000
BROAD = {"ftp:", "http:", "https:", "*", "http://*", "http://*.*", "https://*"}
UNSAFE_INLINE = {"'unsafe-inline'", "data:"}
NONCE_OR_HASH = ("'sha256-", "'sha384-", "'sha512-", "'nonce-")
PRIVATE_REFERRERS = {
    "no-referrer",
    "same-origin",
    "strict-origin",
    "strict-origin-when-cross-origin",
}
UNSAFE_REFERRERS = {
    "origin",
    "origin-when-cross-origin",
    "unsafe-url",
    "no-referrer-when-downgrade",
}
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)
ATTRIBUTE = re.compile(r"""([\w-]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>]+))?""")


@dataclass
class Scan:
    """What a scan of one site saw."""

    headers: dict[str, str]
    html: str
    cookies: list[Morsel[str]]
    http_redirect: str | None
    host: str


@dataclass
class Result:
    outcomes: dict[str, tuple[str, int]] = field(default_factory=dict)

    def add(self, test: str, outcome: str, modifier: int) -> None:
        self.outcomes[test] = (outcome, modifier)

    @property
    def score(self) -> int:
        penalties = sum(m for _, m in self.outcomes.values() if m < 0)
        bonuses = sum(m for _, m in self.outcomes.values() if m > 0)
        score = 100 + penalties
        if score >= MINIMUM_SCORE_FOR_EXTRA_CREDIT:
            score += bonuses
        return max(score, 0)

    @property
    def grade(self) -> str:
        rounded = min(self.score - self.score % 5, 100)
        chart = {100: "A+", 95: "A", 90: "A", 85: "A-", 80: "B+", 75: "B", 70: "B"}
        chart |= {65: "B-", 60: "C+", 55: "C", 50: "C", 45: "C-", 40: "D+"}
        chart |= {35: "D", 30: "D", 25: "D-"}
        return chart.get(rounded, "F")


def parse_csp(header: str) -> dict[str, set[str]]:
    policy: dict[str, set[str]] = {}
    for part in header.split(";"):
        tokens = part.strip().split()
        if tokens and tokens[0].lower() not in policy:
            policy[tokens[0].lower()] = {t.lower() for t in tokens[1:]}
    return policy


def csp_test(scan: Scan, result: Result) -> dict[str, set[str]]:
    header = scan.headers.get("content-security-policy")
    if not header:
        result.add("csp", "csp-not-implemented", -25)
        return {}
    csp = parse_csp(header)
    default = csp.get("default-src", {"*"})
    script = set(csp.get("script-src", default))
    style = set(csp.get("style-src", default))
    objects = csp.get("object-src", default)
    for sources in (script, style):
        if any(s.startswith(NONCE_OR_HASH) for s in sources):
            sources.discard("'unsafe-inline'")
    if script & (BROAD | UNSAFE_INLINE) or objects & BROAD:
        result.add("csp", "csp-implemented-with-unsafe-inline", -20)
    elif any(s.startswith(("http:", "ftp:")) for v in csp.values() for s in v):
        result.add("csp", "csp-implemented-with-insecure-scheme", -20)
    elif "'unsafe-eval'" in script | style:
        result.add("csp", "csp-implemented-with-unsafe-eval", -10)
    elif style & (BROAD | UNSAFE_INLINE):
        result.add("csp", "csp-implemented-with-unsafe-inline-in-style-src-only", 0)
    elif csp.get("default-src") == {"'none'"}:
        result.add("csp", "csp-implemented-with-no-unsafe-default-src-none", 10)
    else:
        result.add("csp", "csp-implemented-with-no-unsafe", 5)
    return csp


def cookies_test(scan: Scan, result: Result, hsts: bool) -> None:
    if not scan.cookies:
        result.add("cookies", "cookies-not-found", 0)
        return
    worst: tuple[str, int] | None = None

    def worse(outcome: str, modifier: int) -> None:
        nonlocal worst
        if worst is None or modifier < worst[1]:
            worst = (outcome, modifier)

    same_site_everywhere = True
    for cookie in scan.cookies:
        name = cookie.key.lower()
        session = "sess" in name or "login" in name
        same_site = str(cookie["samesite"]).lower()
        if same_site and same_site not in {"lax", "strict", "none"}:
            worse("cookies-samesite-flag-invalid", -20)
        if same_site == "none" and not cookie["secure"]:
            worse("cookies-samesite-flag-invalid", -20)
        if not cookie["secure"]:
            if session:
                worse("cookies-session-without-secure-flag", -10 if hsts else -40)
            worse("cookies-without-secure-flag", -5 if hsts else -20)
        if "csrf" in name and not same_site:
            worse("cookies-anticsrf-without-samesite-flag", -20)
        if session and not cookie["httponly"]:
            worse("cookies-session-without-httponly-flag", -30)
        same_site_everywhere &= bool(same_site)
    if worst is not None:
        result.add("cookies", *worst)
    elif same_site_everywhere:
        result.add("cookies", "cookies-secure-with-httponly-sessions-and-samesite", 5)
    else:
        result.add("cookies", "cookies-secure-with-httponly-sessions", 0)


def referrer_test(scan: Scan, result: Result) -> None:
    header = scan.headers.get("referrer-policy")
    if header is None:
        result.add("referrer", "referrer-policy-not-implemented", 0)
        return
    values = [v.strip().lower() for v in header.split(",") if v.strip()]
    if values and values[-1] in PRIVATE_REFERRERS:
        result.add("referrer", "referrer-policy-private", 5)
    elif values and values[-1] in UNSAFE_REFERRERS:
        result.add("referrer", "referrer-policy-unsafe", -5)
    else:
        result.add("referrer", "referrer-policy-header-invalid", -5)


def frame_test(scan: Scan, result: Result, csp: dict[str, set[str]]) -> None:
    if "frame-ancestors" in csp:
        result.add("xfo", "x-frame-options-implemented-via-csp", 5)
        return
    value = scan.headers.get("x-frame-options", "").strip().lower()
    if value in {"deny", "sameorigin"}:
        result.add("xfo", "x-frame-options-sameorigin-or-deny", 0)
    elif value.startswith("allow-from"):
        result.add("xfo", "x-frame-options-allow-from-origin", 0)
    else:
        result.add("xfo", "x-frame-options-not-implemented-or-invalid", -20)


def hsts_test(scan: Scan, result: Result) -> bool:
    header = scan.headers.get("strict-transport-security")
    if not header or "," in header:
        result.add("hsts", "hsts-not-implemented-or-invalid", -20)
        return False
    ages = [p.strip()[8:] for p in header.lower().split(";") if "max-age=" in p]
    if not ages or not ages[0].isdigit():
        result.add("hsts", "hsts-header-invalid", -20)
        return False
    if int(ages[0]) < SIX_MONTHS:
        result.add("hsts", "hsts-implemented-max-age-less-than-six-months", -10)
        return True
    result.add("hsts", "hsts-implemented-max-age-at-least-six-months", 0)
    return True


def nosniff_test(scan: Scan, result: Result) -> None:
    if scan.headers.get("x-content-type-options", "").strip().lower() == "nosniff":
        result.add("xcto", "x-content-type-options-nosniff", 0)
    else:
        result.add("xcto", "x-content-type-options-not-implemented", -5)


def redirection_test(scan: Scan, result: Result) -> None:
    target = scan.http_redirect
    if target is None:
        result.add("redirection", "redirection-missing", -20)
    elif not target.startswith("https://"):
        result.add("redirection", "redirection-not-to-https", -20)
    elif target.split("/")[2] != scan.host:
        result.add("redirection", "redirection-off-host-from-http", -5)
    else:
        result.add("redirection", "redirection-to-https", 0)


def scripts(html: str) -> list[dict[str, str]]:
    found = []
    for match in SCRIPT_TAG.finditer(html):
        attributes = {
            name.lower(): (value or "").strip("\"'")
            for name, value in ATTRIBUTE.findall(match[1])
        }
        found.append(attributes)
    return found


def sri_test(scan: Scan, result: Result) -> None:
    content_type = scan.headers.get("content-type", "").split(";")[0].strip()
    if content_type and content_type != "text/html":
        result.add("sri", "sri-not-implemented-response-not-html", 0)
        return
    tags = [s for s in scripts(scan.html) if s.get("src")]
    if not scripts(scan.html):
        result.add("sri", "sri-not-implemented-but-no-scripts-loaded", 0)
        return
    outcome: tuple[str, int] | None = None
    for tag in tags:
        src = tag["src"]
        external = src.startswith("//") or (
            src.startswith(("http://", "https://")) and src.split("/")[2] != scan.host
        )
        secure = not src.startswith(("http://", "//"))
        if external:
            if not tag.get("integrity"):
                outcome = (
                    "sri-not-implemented-but-external-scripts",
                    -5 if secure else -50,
                )
                break
            if not secure:
                outcome = ("sri-implemented-but-external-scripts-not-secure", -20)
                break
        elif tag.get("integrity") and secure and outcome is None:
            outcome = ("sri-implemented-and-all-scripts-loaded-securely", 5)
    result.add("sri", *(outcome or ("sri-not-implemented-but-all-same-origin", 0)))


def cors_test(scan: Scan, result: Result) -> None:
    origin = scan.headers.get("access-control-allow-origin")
    credentials = scan.headers.get("access-control-allow-credentials", "").lower()
    if origin == "*" and credentials == "true":
        result.add("cors", "cors-implemented-with-universal-access", -50)
    else:
        result.add("cors", "cors-not-implemented-or-restricted", 0)


def token_test(
    scan: Scan, result: Result, test: str, header: str, best: dict[str, int]
) -> None:
    value = scan.headers.get(header)
    if value is None:
        result.add(test, f"{test}-not-implemented", 0)
    elif value.strip().lower() in best:
        result.add(test, f"{test}-{value.strip().lower()}", best[value.strip().lower()])
    else:
        result.add(test, f"{test}-header-invalid", -5)


def score(scan: Scan) -> Result:
    result = Result()
    csp = csp_test(scan, result)
    hsts = hsts_test(scan, result)
    cookies_test(scan, result, hsts)
    referrer_test(scan, result)
    frame_test(scan, result, csp)
    nosniff_test(scan, result)
    redirection_test(scan, result)
    sri_test(scan, result)
    cors_test(scan, result)
    token_test(
        scan,
        result,
        "corp",
        "cross-origin-resource-policy",
        {"same-origin": 10, "same-site": 10, "cross-origin": 0},
    )
    token_test(
        scan,
        result,
        "coop",
        "cross-origin-opener-policy",
        {"same-origin": 10, "same-origin-allow-popups": 0, "unsafe-none": 0},
    )
    token_test(
        scan,
        result,
        "coep",
        "cross-origin-embedder-policy",
        {"require-corp": 10, "credentialless": 10, "unsafe-none": 0},
    )
    return result


def lower_headers(response: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in response.headers.items()}
