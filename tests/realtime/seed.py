"""Seed a test server's database: users, groups and signed-in sessions.

Run as ``python -m tests.realtime.seed '<json spec>'`` with the server's
environment; prints what it made as JSON. The spec::

    {"users": ["alice", "bob"], "groups": {"g": ["alice", "bob"]},
     "sessions": {"alice": 2}}

The first user listed in a group owns it. Each user gets one session (or as
many as ``sessions`` says) that passed both login steps, the same state the
login views leave behind.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from typing import Any


def seed(spec: dict[str, Any]) -> dict[str, Any]:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts import session_auth
    from accounts.models import User
    from groups.models import Group, Membership
    from hashwhisper.crypto import random_id, token_hash

    users: dict[str, Any] = {}
    for name in spec.get("users", []):
        # No password: these users only ever use the sessions made here,
        # and hashing one would cost a tenth of a second each.
        user = User.objects.create_user(username=name)
        device = TOTPDevice.objects.create(user=user, name="app", confirmed=True)
        keys = []
        for _ in range(int(spec.get("sessions", {}).get(name, 1))):
            session = SessionStore()
            session[SESSION_KEY] = str(user.pk)
            session[BACKEND_SESSION_KEY] = session_auth.BACKEND
            session[HASH_SESSION_KEY] = user.get_session_auth_hash()
            session["otp_device_id"] = device.persistent_id
            session.create()
            keys.append(session.session_key)
        users[name] = {"id": user.pk, "sessions": keys}

    groups: dict[str, str] = {}
    for label, members in spec.get("groups", {}).items():
        owner = User.objects.get(username=members[0])
        group = Group.objects.create(
            id=random_id(),
            salt=secrets.token_bytes(16),
            iterations=600_000,
            token_hash=token_hash(secrets.token_bytes(32)),
            name_ciphertext=secrets.token_bytes(20),
            name_nonce=secrets.token_bytes(12),
            name_tag=secrets.token_bytes(16),
            created_by=owner,
        )
        for index, name in enumerate(members):
            Membership.objects.create(
                group=group,
                user=User.objects.get(username=name),
                role=Membership.Role.OWNER if index == 0 else Membership.Role.MEMBER,
            )
        groups[label] = group.pk
    return {"users": users, "groups": groups}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hashwhisper.settings")
    import django

    django.setup()
    print(json.dumps(seed(json.loads(sys.argv[1]))))


if __name__ == "__main__":
    main()
