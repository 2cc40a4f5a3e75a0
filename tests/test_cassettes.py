"""Recorded traffic: the client's main calls, recorded once against the sandbox's HTTP server and replayed here
with no server at all (``--record-mode=none``, the default in pyproject). With real credentials the same test
records Avito itself, which is how the open questions of NOTES.md get pinned down.

Re-record: ``.venv/bin/python -m pytest tests/test_cassettes.py --record-mode=rewrite``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from avito_kit.auth import AvitoAuth
from avito_kit.client import AvitoApiClient
from avito_kit.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, Sandbox

CASSETTES = Path(__file__).parent / "cassettes"
RECORDING_PORT = 18765  # fixed: replay matches the recorded host and port
FILTERED = "FILTERED"
CHECK_IN, CHECK_OUT = "2027-03-01", "2027-03-31"


def _scrub_response(response: dict) -> dict:
    body = response["body"]["string"]
    text = body.decode() if isinstance(body, bytes) else body
    if '"access_token"' in text:
        payload = json.loads(text)
        payload["access_token"] = FILTERED
        response["body"]["string"] = json.dumps(payload).encode()
    return response


@pytest.fixture(scope="module")
def vcr_config():
    return {
        "filter_headers": [("authorization", f"Bearer {FILTERED}")],
        "filter_post_data_parameters": [("client_id", FILTERED), ("client_secret", FILTERED)],
        "before_record_response": _scrub_response,
        "decode_compressed_response": True,
    }


@pytest.fixture(scope="module")
def vcr_cassette_dir():
    return str(CASSETTES)


@pytest.fixture
def api_root(request):
    """The sandbox over loopback HTTP while recording; nothing at all while replaying."""
    if request.config.getoption("--record-mode") == "none":
        yield f"http://127.0.0.1:{RECORDING_PORT}"
        return
    with Sandbox(seed=11).serve(port=RECORDING_PORT) as server:
        yield server.base_url


@pytest.mark.vcr
async def test_main_calls_replay_from_the_cassette(api_root):
    auth = AvitoAuth(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, base_url=api_root)
    async with AvitoApiClient(auth) as client:
        account = await client.get_self()
        items = await client.get_all_user_items("active,removed,old,blocked,rejected", per_page=99)
        item_id = next(i["id"] for i in items if i["status"] == "active")
        details = await client.get_item_details(item_id)
        bookings = await client.get_item_bookings(item_id, CHECK_IN, CHECK_OUT, with_unpaid=True)
        chats = await client.get_chats(limit=20)
        messages = await client.get_messages_in_chat(chats[0]["id"], limit=20)
        sent = await client.send_message(chats[0]["id"], "Здравствуйте! Да, даты свободны.")
        read = await client.mark_message_read(chats[0]["id"])
    assert account["id"] == await auth.get_current_user_id()
    assert len(items) == 12 and all(i["id"] > 2**31 for i in items)
    assert details["status"] == "active"
    assert all(b["status"] in ("active", "canceled", "pending") for b in bookings)
    assert len(chats) == 20 and messages
    assert sent["content"]["text"] == "Здравствуйте! Да, даты свободны."
    assert read == {"ok": True}


SECRET_PATTERNS = [
    re.escape(SANDBOX_CLIENT_SECRET),
    re.escape(SANDBOX_CLIENT_ID),
    r"Bearer (?!FILTERED)\S+",
    r"access_token\W+(?!FILTERED)[A-Za-z0-9_\-]{8,}",
    r"client_secret=(?!FILTERED)",
    r"client_id=(?!FILTERED)",
]


def test_no_cassette_holds_a_secret_or_a_token():
    cassettes = sorted(CASSETTES.glob("**/*.yaml"))
    assert cassettes, "the cassettes are committed with the tests"
    for cassette in cassettes:  # every cassette, including ones recorded against Avito later
        text = cassette.read_text(encoding="utf-8")
        for pattern in SECRET_PATTERNS:
            assert not re.search(pattern, text), f"{cassette.name} matches {pattern}"
