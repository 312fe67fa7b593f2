"""Encodings, identifiers, passphrases and invitations of static/js/crypto.js.

Good input must give the same bytes as Python's standard library and the
reference; malformed input must be refused with a clear error that never
repeats an invitation's secret.
"""

from __future__ import annotations

import base64
import os
import unicodedata
from typing import Any

import pytest

from tests.crypto.conftest import Harness
from tests.support import reference

pytestmark = pytest.mark.browser

GROUP_ID = "AAECAwQFBgcICQoLDA0ODw"
SECRET = bytes(range(0xC0, 0xE0))
SECRET_TEXT = reference.b64url_encode(SECRET)

APPLY = """async (a) => Promise.all(a.inputs.map((input) =>
  window.harness.outcome(async () => window.hw[a.name](input))))"""


def apply_each(harness: Harness, name: str, inputs: list[Any]) -> list[dict[str, Any]]:
    """Call ``hw[name]`` on each input; return each outcome."""
    outcomes: list[dict[str, Any]] = harness.run(
        APPLY, {"name": name, "inputs": inputs}
    )
    assert len(outcomes) == len(inputs)
    return outcomes


def test_constants_match_the_protocol(harness: Harness) -> None:
    names = [
        "PROTOCOL",
        "MIN_ITERATIONS",
        "DEFAULT_ITERATIONS",
        "MAX_ITERATIONS",
        "SALT_BYTES",
        "SECRET_BYTES",
        "NONCE_BYTES",
        "TAG_BYTES",
        "MIN_PASSPHRASE_CHARS",
    ]
    values = harness.run("async (names) => names.map((n) => window.hw[n])", names)
    assert dict(zip(names, values, strict=True)) == {
        name: getattr(reference, name) for name in names
    }
    assert values[:3] == ["v1", 120_000, 600_000]


def test_base64_matches_python_for_every_length(harness: Harness) -> None:
    samples = [os.urandom(n) for n in range(0, 70)] + [os.urandom(100_000)]
    result = harness.run(
        """async (hexes) => hexes.map((hex) => {
          const bytes = window.harness.fromHex(hex);
          const std = window.hw.b64encode(bytes);
          const url = window.hw.b64urlEncode(bytes);
          return {
            std, url,
            stdBack: window.harness.toHex(window.hw.b64decode(std)),
            urlBack: window.harness.toHex(window.hw.b64urlDecode(url)),
          };
        })""",
        [sample.hex() for sample in samples],
    )
    assert len(result) == len(samples)
    for sample, got in zip(samples, result, strict=True):
        assert got["std"] == base64.b64encode(sample).decode()
        assert got["url"] == base64.urlsafe_b64encode(sample).decode().rstrip("=")
        assert got["stdBack"] == got["urlBack"] == sample.hex()


BAD_BASE64 = [
    "YQ",  # padding missing
    "YQ=",  # padding incomplete
    "YR==",  # non-canonical trailing bits
    "YWJ=",  # non-canonical trailing bits
    "Y Q==",  # whitespace
    "YQ==\n",  # trailing newline
    "YQ==YQ==",  # padding in the middle
    "Y-8_",  # base64url alphabet
    "====",  # padding only
    "éé==",  # outside the alphabet
    None,
    42,
]


def test_b64decode_refuses_malformed_input(harness: Harness) -> None:
    for outcome in apply_each(harness, "b64decode", BAD_BASE64):
        assert outcome == {
            "error": "Error: Invalid base64: expected canonical standard base64 "
            "with padding"
        }
    assert apply_each(harness, "b64decode", ["", "YQ==", "YWI="]) == [
        {"ok": ""},
        {"ok": "61"},
        {"ok": "6162"},
    ]


def test_b64url_decode_refuses_malformed_input(harness: Harness) -> None:
    bad = ["YQ==", "Y+8/", "Y", "YR", "a b", "YWJ", None]
    outcomes = apply_each(harness, "b64urlDecode", bad)
    assert all(o["error"].startswith("Error: Invalid base64url") for o in outcomes)
    assert apply_each(harness, "b64urlDecode", ["", "YQ", "-_8"]) == [
        {"ok": ""},
        {"ok": "61"},
        {"ok": "fbff"},
    ]


def test_random_bytes_ids_and_secrets(harness: Harness) -> None:
    result = harness.run(
        """async () => {
          const { hw, harness } = window;
          const big = hw.randomBytes(70000);
          const many = (make) => Array.from({ length: 200 }, () => make());
          return {
            ids: many(hw.newGroupId),
            secrets: many(() => hw.b64encode(hw.newGroupSecret())),
            lengths: [0, 1, 12, 65536, 65537].map((n) => hw.randomBytes(n).length),
            tailNonZero: big.subarray(65536).some((byte) => byte !== 0),
            negative: await harness.outcome(async () => hw.randomBytes(-1)),
            fraction: await harness.outcome(async () => hw.randomBytes(1.5)),
          };
        }"""
    )
    assert len(set(result["ids"])) == 200
    for group_id in result["ids"]:
        assert len(group_id) == 22
        assert len(reference.b64url_decode(group_id)) == 16
    assert len(set(result["secrets"])) == 200
    assert {len(base64.b64decode(s)) for s in result["secrets"]} == {32}
    assert result["lengths"] == [0, 1, 12, 65536, 65537]
    # getRandomValues fills 64 KiB per call: the chunk past it must be filled.
    assert result["tailNonZero"] is True
    assert result["negative"]["error"].startswith("RangeError")
    assert result["fraction"]["error"].startswith("RangeError")


PASSPHRASES = {
    "sixteen ASCII characters": ("abcdefghijklmnop", True),
    "fifteen ASCII characters": ("abcdefghijklmno", False),
    "sixteen emoji code points": ("👋" * 16, True),
    "eight emoji of two code points": ("👋🏽" * 8, True),
    "fifteen emoji": ("👋" * 15, False),
    "sixteen composed accents": ("é" * 16, True),
    "fifteen accents typed decomposed": ("e\u0301" * 15, False),
}


@pytest.mark.parametrize(
    ("text", "accepted"), PASSPHRASES.values(), ids=PASSPHRASES.keys()
)
def test_passphrase_length_counts_code_points_after_nfc(
    harness: Harness, text: str, accepted: bool
) -> None:
    [outcome] = apply_each(harness, "passphraseSecret", [text])
    if accepted:
        nfc = unicodedata.normalize("NFC", text).encode()
        assert outcome == {"ok": nfc.hex()}
        assert outcome["ok"] == reference.passphrase_secret(text).hex()
    else:
        assert outcome == {"error": "Error: A passphrase needs at least 16 characters"}


def test_passphrase_refuses_non_text_and_lone_surrogates(harness: Harness) -> None:
    result = harness.run(
        """async () => Promise.all([
          window.harness.outcome(async () =>
            window.hw.passphraseSecret("abcdefghijklmnop\\uD800")),
          window.harness.outcome(async () => window.hw.passphraseSecret(12345678)),
        ])"""
    )
    assert result == [
        {"error": "Error: A passphrase must be well-formed Unicode text"},
        {"error": "TypeError: A passphrase must be a string"},
    ]


GOOD_INVITATIONS = [
    f"https://chat.example/g/join#v1.{GROUP_ID}.{SECRET_TEXT}",
    f"v1.{GROUP_ID}.{SECRET_TEXT}",
    f"  https://chat.example/g/join#v1.{GROUP_ID}.{SECRET_TEXT}\n",
    f"https://chat.example/g/join%23v1.{GROUP_ID}.{SECRET_TEXT}",
    f"#v1.{GROUP_ID}.{SECRET_TEXT}",
]


def test_parse_invitation_accepts_links_and_fragments(harness: Harness) -> None:
    outcomes = harness.run(
        """async (texts) => texts.map((text) => {
          const { groupId, secret } = window.hw.parseInvitation(text);
          return { groupId, secret: window.harness.toHex(secret) };
        })""",
        GOOD_INVITATIONS,
    )
    assert outcomes == [{"groupId": GROUP_ID, "secret": SECRET.hex()}] * len(
        GOOD_INVITATIONS
    )


BAD_INVITATIONS = {
    "empty": "",
    "link without fragment": "https://chat.example/g/join",
    "empty fragment": "https://chat.example/g/join#",
    "no version": f"{GROUP_ID}.{SECRET_TEXT}",
    "group id too short": f"v1.{GROUP_ID[:-1]}.{SECRET_TEXT}",
    "group id too long": f"v1.{GROUP_ID}A.{SECRET_TEXT}",
    "group id non-canonical": f"v1.{GROUP_ID[:-1]}x.{SECRET_TEXT}",
    "secret missing": f"v1.{GROUP_ID}.",
    "secret too short": f"v1.{GROUP_ID}.{reference.b64url_encode(bytes(15))}",
    "secret padded": f"v1.{GROUP_ID}.{SECRET_TEXT}=",
    "secret in standard base64": f"v1.{GROUP_ID}.{SECRET_TEXT}+/",
    "extra part": f"v1.{GROUP_ID}.{SECRET_TEXT}.extra",
    "space inside": f"v1.{GROUP_ID}. {SECRET_TEXT}",
    # 43 + 2 characters: a length no byte string encodes to.
    "impossible length": f"v1.{GROUP_ID}.{SECRET_TEXT}AA",
    "upper-case version": f"V1.{GROUP_ID}.{SECRET_TEXT}",
}


@pytest.mark.parametrize("text", BAD_INVITATIONS.values(), ids=BAD_INVITATIONS.keys())
def test_parse_invitation_rejects_malformed_input(harness: Harness, text: str) -> None:
    [outcome] = apply_each(harness, "parseInvitation", [text])
    assert outcome["error"].startswith("Error: Malformed invitation")
    # The message is shown to the user and may be logged: never echo the input.
    assert SECRET_TEXT[:8] not in outcome["error"]


def test_parse_invitation_names_another_version(harness: Harness) -> None:
    text = f"https://chat.example/g/join#v2.{GROUP_ID}.{SECRET_TEXT}"
    assert apply_each(harness, "parseInvitation", [text, 42]) == [
        {"error": "Error: This invitation is for another protocol version"},
        {"error": "TypeError: An invitation must be text"},
    ]


def test_invitation_fragment_round_trips_and_validates(harness: Harness) -> None:
    result = harness.run(
        """async (a) => {
          const { hw, harness } = window;
          const secret = harness.fromHex(a.secret);
          const fragment = hw.invitationFragment(a.groupId, secret);
          const back = hw.parseInvitation(fragment);
          return {
            fragment,
            back: [back.groupId, harness.toHex(back.secret)],
            badGroup: await harness.outcome(async () =>
              hw.invitationFragment("not-a-group-id", secret)),
            shortSecret: await harness.outcome(async () =>
              hw.invitationFragment(a.groupId, new Uint8Array(15))),
          };
        }""",
        {"groupId": GROUP_ID, "secret": SECRET.hex()},
    )
    assert result["fragment"] == f"v1.{GROUP_ID}.{SECRET_TEXT}"
    assert result["fragment"] == reference.invitation_fragment(GROUP_ID, SECRET)
    assert result["back"] == [GROUP_ID, SECRET.hex()]
    assert result["badGroup"]["error"].startswith("Error: A group id must")
    assert result["shortSecret"]["error"].startswith("RangeError")


def test_aad_builders_validate_their_parts(harness: Harness) -> None:
    result = harness.run(
        """async (a) => {
          const { hw, harness } = window;
          const aad = (groupId, senderId) =>
            harness.outcome(async () => hw.messageAad(groupId, senderId));
          return {
            number: await aad(a.groupId, 7),
            text: await aad(a.groupId, "7"),
            rejected: await Promise.all([
              aad(a.groupId, 0), aad(a.groupId, -1), aad(a.groupId, 1.5),
              aad(a.groupId, "07"), aad(a.groupId, "7|8"), aad(a.groupId, null),
              aad(a.groupId.slice(1), 7), aad(`${a.groupId.slice(1)}|`, 7),
              harness.outcome(async () => hw.nameAad("")),
            ]),
          };
        }""",
        {"groupId": GROUP_ID},
    )
    expected = reference.message_aad(GROUP_ID, 7).hex()
    assert result["number"] == result["text"] == {"ok": expected}
    assert len(result["rejected"]) == 9
    assert all("error" in outcome for outcome in result["rejected"])
