"""``avito-kit demo``: the original integration's complete workflow, run against the embedded sandbox.

Listings, one listing's details, bookings for the next 30 days, unread chats, a reply and mark-read. It always
uses the sandbox, even when credentials are set: a demo must never message a real guest.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from .client import ALL_ITEM_STATUSES
from .sandbox import Sandbox
from .session import open_client

__all__ = ["run_demo"]

DEMO_REPLY = "Здравствуйте! Спасибо за сообщение, квартира свободна на ваши даты. Ответим на вопросы здесь."


async def run_demo(say: Callable[[str], None] = print, sandbox: Sandbox | None = None) -> dict:
    """Run the workflow, report each step through ``say``, and return the figures."""
    sandbox = sandbox or Sandbox()
    today = dt.date.today()
    async with open_client(sandbox=sandbox) as client:
        account = await client.get_self()
        say(f"Account {account['id']} ({account.get('name', '')}) on the embedded sandbox")

        items = await client.get_all_user_items(",".join(ALL_ITEM_STATUSES), per_page=99)
        active = [item for item in items if item.get("status") == "active"]
        say(f"Listings: {len(items)} ({len(active)} active)")
        for item in active[:3]:
            say(f"  {item['id']}  {item['title']}  {item.get('address', '')}")

        details = await client.get_item_details(active[0]["id"])
        say(f"Listing {active[0]['id']}: status {details.get('status')}, {details.get('url')}")

        bookings = []
        for item in active:
            bookings += await client.get_item_bookings(item["id"], today, today + dt.timedelta(days=30))
        confirmed = [b for b in bookings if b.get("status") == "active"]
        say(f"Bookings in the next 30 days: {len(bookings)} ({len(confirmed)} active)")

        new_messages = await client.get_new_messages()
        chats = {m["chat_id"] for m in new_messages}
        say(f"Unread: {len(new_messages)} incoming messages in {len(chats)} chats")
        replied = None
        if new_messages:
            newest = new_messages[-1]
            say(f"  last from guest {newest['chat_user_id']}: {(newest.get('content') or {}).get('text', '')!r}")
            await client.send_message(newest["chat_id"], DEMO_REPLY)
            await client.mark_message_read(newest["chat_id"])
            replied = newest["chat_id"]
            say(f"Replied in chat {replied} and marked it read")
        say(f"Requests sent: {client.requests_sent}")
    return {"items": len(items), "bookings": len(bookings), "unread_messages": len(new_messages),
            "replied_chat": replied, "requests": client.requests_sent}
