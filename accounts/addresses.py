"""The client address that per-address rate limits count against."""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _valid_ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str:
    """``REMOTE_ADDR``, or the address the operator's proxies vouch for.

    With ``HASHWHISPER_TRUSTED_PROXIES = n``, each of the n proxies appended
    the address it received the request from, so the n-th entry from the
    right of ``X-Forwarded-For`` is the first one a client could not have
    written itself. Entries further left are the client's own claims and are
    never read. With no trusted proxy the header is ignored, so a forged one
    changes nothing.
    """
    remote = str(request.META.get("REMOTE_ADDR") or "")
    hops = settings.HASHWHISPER_TRUSTED_PROXIES
    if hops > 0:
        header = str(request.META.get("HTTP_X_FORWARDED_FOR", ""))
        entries = [entry for entry in header.split(",") if entry.strip()]
        if len(entries) >= hops:
            vouched = _valid_ip(entries[-hops])
            if vouched is not None:
                return vouched
    return remote


def address_bucket(request: HttpRequest) -> str:
    """The unit one limit applies to: an IPv4 address or an IPv6 /64.

    One IPv6 subscriber usually holds a whole /64, so counting single IPv6
    addresses would let one client rotate through billions of them.
    """
    address = _valid_ip(client_ip(request))
    if address is None:
        # A server behind a Unix socket sees no address; such requests share
        # one bucket rather than escaping the limit.
        return "unknown"
    parsed = ipaddress.ip_address(address)
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return address
