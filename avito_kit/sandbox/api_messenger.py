"""Handlers of messenger.json: chats, one chat, a chat's messages, sending and marking read.

Real accounts wrap both lists in an object with ``meta.has_more`` (REAL-WORLD.md); the switches
``messages_envelope`` and ``chats_meta`` serve the spec's shapes too. Without the paid messenger subscription
(``messenger_subscription=False``) the pipeline answers 402 before any of these runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .params import Reject, bool_param, int_param, list_param, path_int

if TYPE_CHECKING:
    from .app import SandboxApp

__all__ = ["CHAT_TYPES", "MESSAGE_MAX_CHARS", "NO_SUBSCRIPTION", "get_chat", "list_chats", "list_messages", "read_chat",
           "send_message"]

CHAT_TYPES = ("u2i", "u2u", "a2u")
MESSAGE_MAX_CHARS = 1000
NO_SUBSCRIPTION = "не подключена платная подписка на API мессенджера"  # the 402 message real accounts see


def list_chats(sandbox: SandboxApp, path_params: dict[str, str], query: dict[str, list[str]], _: Any
               ) -> tuple[int, Any]:
    sandbox.check_user(path_params)
    limit = int_param(query, "limit", 100, 1, 100)
    offset = int_param(query, "offset", 0, 0, 1000)
    chat_types = list_param(query, "chat_types") or ["u2i"]  # messenger.json: default u2i only
    unknown = [t for t in chat_types if t not in CHAT_TYPES]
    if unknown:
        raise Reject(400, f"unknown chat type {unknown[0]!r}")
    item_ids = {path_int(raw, "item_ids") for raw in list_param(query, "item_ids")}
    unread_only = bool_param(query, "unread_only", False)
    chats = [chat for chat in sandbox.listed_chats()
             if chat.type in chat_types
             and (not item_ids or chat.item_id in item_ids)
             and (not unread_only or chat.unread)]
    chats.sort(key=lambda chat: (chat.updated, chat.id), reverse=True)
    body: dict[str, Any] = {"chats": [chat.to_json() for chat in chats[offset:offset + limit]]}
    if sandbox.switches.chats_meta:
        body["meta"] = {"has_more": offset + limit < len(chats)}
    return 200, body


def get_chat(sandbox: SandboxApp, path_params: dict[str, str], *_: Any) -> tuple[int, Any]:
    return 200, sandbox.chat_at(path_params).to_json()


def list_messages(sandbox: SandboxApp, path_params: dict[str, str], query: dict[str, list[str]], _: Any
                  ) -> tuple[int, Any]:
    chat = sandbox.chat_at(path_params)
    limit = int_param(query, "limit", 100, 1, 100)
    offset = int_param(query, "offset", 0, 0, 1000)
    newest_first = chat.messages[::-1][offset:offset + limit]
    envelope = sandbox.switches.messages_envelope
    if envelope == "array":
        return 200, newest_first
    if envelope == "object":
        return 200, {"messages": newest_first}
    return 200, {"messages": newest_first, "meta": {"has_more": offset + limit < len(chat.messages)}}


def send_message(sandbox: SandboxApp, path_params: dict[str, str], _: dict[str, list[str]], body: Any
                 ) -> tuple[int, Any]:
    chat = sandbox.chat_at(path_params, as_of_today=False)
    if not isinstance(body, dict) or not isinstance(body.get("message"), dict):
        raise Reject(400, 'body must be {"message": {"text": ...}, "type": "text"}')
    if body.get("type", "text") != "text":
        raise Reject(400, "only text messages can be sent")
    text = body["message"].get("text")
    if not isinstance(text, str) or not 1 <= len(text) <= MESSAGE_MAX_CHARS:
        raise Reject(400, f"text must be 1..{MESSAGE_MAX_CHARS} characters")
    message = sandbox.append_message(chat, "out", {"text": text})
    return 200, {key: message[key] for key in ("id", "content", "created", "direction", "type")}


def read_chat(sandbox: SandboxApp, path_params: dict[str, str], *_: Any) -> tuple[int, Any]:
    chat = sandbox.chat_at(path_params, as_of_today=False)
    for message in chat.messages:
        if message["direction"] == "in":
            message["is_read"] = True
    return 200, {"ok": True}
