"""The seed document's three usage examples, copied verbatim but for the import lines, run against the sandbox
over loopback HTTP: whoever moves from the original assistant to avito_kit pastes exactly this code.

The examples block and open January 2024 on listing 123456: the sandbox's world is set on 2024-01-01 and gets
that listing. The seed document lives outside the repository; when it is at hand, a test checks the copies.
"""

# ruff: noqa: W293  (the seed's examples are kept verbatim, blank lines with their indentation)

from __future__ import annotations

import ast
import asyncio
import dataclasses
import datetime as dt
import re
from collections import Counter
from pathlib import Path

import pytest

from avito_kit import AvitoApiClient, AvitoAuth
from avito_kit.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, Sandbox

SEED_DOC = Path(__file__).resolve().parents[2] / "shared" / "seed" / "000_3efbb05ef1acbf9d.txt"
SEED_IMPORTS = {  # the only lines changed
    "from src.api.avito_auth import AvitoAuth": "from avito_kit import AvitoAuth",
    "from src.api.avito_api_client import AvitoApiClient": "from avito_kit import AvitoApiClient",
}
EXAMPLE_ITEM = 123456

COMPLETE_WORKFLOW = '''\
import asyncio
from avito_kit import AvitoAuth
from avito_kit import AvitoApiClient

async def main():
    # Initialize authentication
    auth = AvitoAuth()
    await auth.get_access_token()
    
    # Initialize API client
    client = AvitoApiClient(avito_auth_instance=auth)
    
    # Get all active items
    items = await client.get_all_user_items(status="active")
    print(f"Found {len(items)} active items")
    
    # Get details for first item
    if items:
        item_id = items[0]["id"]
        details = await client.get_item_details(item_id)
        print(f"Item: {details.get('title')}")
        
        # Get bookings for next 30 days
        from datetime import date, timedelta
        today = date.today()
        end_date = today + timedelta(days=30)
        
        bookings = await client.get_item_bookings(
            item_id=item_id,
            date_start=today.strftime("%Y-%m-%d"),
            date_end=end_date.strftime("%Y-%m-%d")
        )
        print(f"Found {len(bookings)} bookings")
    
    # Get unread chats
    unread_chats = await client.get_chats(unread_only=True)
    print(f"Found {len(unread_chats)} unread chats")
    
    # Process each unread chat
    for chat in unread_chats:
        chat_id = chat["id"]
        messages = await client.get_messages_in_chat(chat_id, limit=10)
        
        # Find incoming messages
        incoming = [m for m in messages if m.get("direction") == "in"]
        print(f"Chat {chat_id}: {len(incoming)} incoming messages")
        
        # Send a response
        if incoming:
            await client.send_message(
                chat_id=chat_id,
                text_content="Thank you for your message! We'll respond shortly."
            )
            
            # Mark as read
            await client.mark_message_read(chat_id=chat_id)

asyncio.run(main())
'''

BLOCKING_DATES = '''\
async def block_dates(client, item_id, start_date, end_date):
    """Block dates on an item's calendar."""
    payload = {
        "bookings": [
            {
                "date_start": start_date,
                "date_end": end_date,
                "type": "manual",
                "comment": "Blocked for maintenance"
            }
        ]
    }
    
    try:
        response = await client.update_item_bookings(
            item_id=item_id,
            bookings_payload=payload
        )
        print(f"Successfully blocked dates: {start_date} to {end_date}")
        return response
    except Exception as e:
        print(f"Error blocking dates: {e}")
        return None

# Usage
await block_dates(client, 123456, "2024-01-15", "2024-01-20")
'''

OPENING_DATES = '''\
async def open_dates(client, item_id, start_date, end_date):
    """Open dates on an item's calendar."""
    payload = {
        "intervals": [
            {
                "date_start": start_date,
                "date_end": end_date,
                "open": 1
            }
        ]
    }
    
    try:
        response = await client.update_item_availability(
            item_id=item_id,
            availability_payload=payload
        )
        print(f"Successfully opened dates: {start_date} to {end_date}")
        return response
    except Exception as e:
        print(f"Error opening dates: {e}")
        return None

# Usage
await open_dates(client, 123456, "2024-01-15", "2024-01-20")
'''

EXAMPLES = {"Complete Workflow Example": COMPLETE_WORKFLOW, "Blocking Dates Example": BLOCKING_DATES,
            "Opening Dates Example": OPENING_DATES}


def _seed_world() -> Sandbox:
    """January 2024, a few dozen chats (the workflow reads the first 50 unread), and listing 123456."""
    sandbox = Sandbox(seed=21, today=dt.date(2024, 1, 1), n_items=4, n_chats=40)
    world = sandbox.world
    listing = dataclasses.replace(world.items[0], id=EXAMPLE_ITEM, status="active")
    world.items.append(listing)
    world.items_by_id[EXAMPLE_ITEM] = listing
    world.bookings[EXAMPLE_ITEM] = []
    return sandbox


@pytest.fixture
def seed_env(isolated_workdir, monkeypatch):
    """The seed's setup: credentials in the environment (here the sandbox's, served over loopback HTTP)."""
    sandbox = _seed_world()
    with sandbox.serve() as server:
        monkeypatch.setenv("AVITO_CLIENT_ID", SANDBOX_CLIENT_ID)
        monkeypatch.setenv("AVITO_CLIENT_SECRET", SANDBOX_CLIENT_SECRET)
        monkeypatch.setenv("AVITO_BASE_URL", server.base_url)
        yield sandbox


def _statuses(sandbox: Sandbox) -> Counter:
    return Counter(request.status for request in sandbox.requests)


def test_complete_workflow_replies_once_to_each_unread_chat_with_an_incoming_message(seed_env, capsys):
    sandbox = seed_env
    unread = [chat for chat in sandbox.chats.values() if chat.type == "u2i" and chat.unread]
    expected = {chat.id for chat in unread if any(m["direction"] == "in" for m in chat.messages[::-1][:10])}
    assert expected and len(unread) <= 50, "the world has unread chats to answer, on one page"

    exec(compile(COMPLETE_WORKFLOW, "seed: Complete Workflow Example", "exec"), {"__name__": "__main__"})

    assert set(_statuses(sandbox)) == {200}, _statuses(sandbox)  # every call succeeded
    sent = Counter(r.path.split("/chats/")[1].split("/")[0] for r in sandbox.requests
                   if r.operation == "postSendMessage")
    assert set(sent) == expected and set(sent.values()) == {1}
    read = Counter(r.path.split("/chats/")[1].split("/")[0] for r in sandbox.requests if r.operation == "chatRead")
    assert read == sent
    out = capsys.readouterr().out
    assert re.search(r"Found [1-9]\d* active items", out) and "Item: None" not in out
    assert f"Found {len(unread)} unread chats" in out


@pytest.mark.parametrize(("name", "done", "operation"), [
    ("Blocking Dates Example", "Successfully blocked dates: 2024-01-15 to 2024-01-20", "putBookingsInfo"),
    ("Opening Dates Example", "Successfully opened dates: 2024-01-15 to 2024-01-20", "putIntervals"),
])
def test_calendar_examples_succeed(seed_env, capsys, name, done, operation):
    sandbox = seed_env

    async def run_example() -> None:
        auth = AvitoAuth()
        await auth.get_access_token()
        client = AvitoApiClient(avito_auth_instance=auth)
        # The examples' "# Usage" line awaits at the top level, as in a notebook cell.
        code = compile(EXAMPLES[name], f"seed: {name}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        await eval(code, {"client": client})
        await client.aclose()

    asyncio.run(run_example())
    out = capsys.readouterr().out
    assert done in out and "Error" not in out
    calls = [r for r in sandbox.requests if r.operation == operation]
    assert [r.status for r in calls] == [200]
    assert set(_statuses(sandbox)) == {200}


def _seed_code_blocks(text: str) -> dict[str, str]:
    blocks = {}
    for name in EXAMPLES:
        section = text.split(f"### {name}", 1)[1]
        blocks[name] = section.split("```python\n", 1)[1].split("```", 1)[0]
    return blocks


@pytest.mark.skipif(not SEED_DOC.is_file(), reason="the seed document is not beside this checkout")
def test_the_examples_are_the_seeds_verbatim_but_for_the_imports():
    for name, code in _seed_code_blocks(SEED_DOC.read_text(encoding="utf-8")).items():
        for original, ours in SEED_IMPORTS.items():
            code = code.replace(original, ours)
        assert code == EXAMPLES[name], name
