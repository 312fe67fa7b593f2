"""The stream's own event encoding writes what django-eventstream's would.

``chat.realtime.stream.encode_event`` replaces the library's
``sse_encode_event`` on the fan-out path (it encodes an event's data once
for all the streams it goes to); a browser must not be able to tell.
"""

from __future__ import annotations

import pytest
from django_eventstream.utils import make_id, sse_encode_event
from hypothesis import example, given, settings
from hypothesis import strategies as st

from chat.realtime import stream
from chat.realtime.stream import StreamState, encode_event

# Line breaks and NUL, which the encoding treats specially, come up often.
texts = st.text(alphabet=st.sampled_from('ab:é \r\n\0{}"') | st.characters())


@settings(max_examples=300, deadline=None)
@given(event_type=texts, data=texts, event_id=st.none() | texts)
@example(event_type="message", data='{"id": 1}', event_id="user-1:1")
@example(event_type="message", data="one\r\ntwo\rthree\nfour", event_id="\n")
@example(event_type="a\rb\0", data="", event_id="")
def test_encoding_matches_the_library(
    event_type: str, data: str, event_id: str | None
) -> None:
    expected = str(sse_encode_event(event_type, data, event_id=event_id))
    assert encode_event(event_type, data, event_id) == expected
    # The second time comes from the cache of the last event's data lines.
    assert encode_event(event_type, data, event_id) == expected


def test_cached_data_lines_follow_the_data() -> None:
    first = encode_event("message", "one", "user-1:1")
    second = encode_event("message", "two", "user-1:2")
    assert first.endswith("data: one\n\n")
    assert second.endswith("data: two\n\n")
    assert stream._last_data[0] == "two"


@pytest.mark.parametrize("channel", ["user-1", "user-123456", "odd channel/ü"])
@pytest.mark.parametrize("cursor", [0, 7, 10**17])
def test_event_ids_match_the_library(channel: str, cursor: int) -> None:
    assert StreamState(channel, cursor).event_id() == make_id({channel: cursor})
