"""Avito's answers as store rows: pure functions from API dicts to rows and DataFrames, no I/O.

Used by the sync for everything it reads and by the actions for the message a reply creates. Ids stay exact
(booking ids exceed 2^63: uint64, never float); Avito's unix seconds become naive UTC timestamps.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable

import pandas as pd

__all__ = ["BOOKING_COLUMNS", "booking_row", "booking_rows", "bookings_frame", "chats_frame", "items_frame",
           "message_row", "message_text", "messages_frame", "review_row", "review_state",
           "reviews_frame",
           "timestamp"]


def timestamp(seconds: int | float | None) -> pd.Timestamp | None:
    """Avito's unix seconds as a naive UTC timestamp."""
    return None if seconds is None else pd.Timestamp(int(seconds), unit="s")


def items_frame(items: Iterable[dict]) -> pd.DataFrame:
    rows = [{
        "item_id": int(item["id"]),
        "title": item.get("title"),
        "address": item.get("address"),
        "status": item.get("status"),
        "price": item.get("price"),
        "url": item.get("url"),
        "category_id": (item.get("category") or {}).get("id"),
        "category_name": (item.get("category") or {}).get("name"),
    } for item in items]
    return pd.DataFrame(rows, columns=["item_id", "title", "address", "status", "price", "url", "category_id",
                                       "category_name"])


BOOKING_COLUMNS = ["booking_id", "item_id", "check_in", "check_out", "nights", "status", "base_price",
                   "guest_count", "guest_name", "guest_email", "guest_phone"]


def booking_row(item_id: int, booking: dict) -> dict:
    """A booking of getRealtyBookings as a row; ``avito_booking_id`` must be there (see ``booking_rows``)."""
    contact = booking.get("contact") or {}
    check_in = dt.date.fromisoformat(booking["check_in"])
    check_out = dt.date.fromisoformat(booking["check_out"])
    return {
        "booking_id": int(booking["avito_booking_id"]),
        "item_id": item_id,
        "check_in": check_in,
        "check_out": check_out,
        "nights": booking.get("nights") or (check_out - check_in).days,
        "status": booking.get("status"),
        "base_price": booking.get("base_price"),
        "guest_count": booking.get("guest_count"),
        "guest_name": contact.get("name"),
        "guest_email": contact.get("email"),
        "guest_phone": contact.get("phone"),
    }


def booking_rows(item_id: int, bookings: list[dict]) -> tuple[list[dict], int]:
    """The rows of a listing's bookings answer, and how many bookings had no ``avito_booking_id`` (a newer spec
    makes it optional): those cannot be tracked, so they are left out and counted."""
    rows = [booking_row(item_id, b) for b in bookings if b.get("avito_booking_id") is not None]
    return rows, len(bookings) - len(rows)


def bookings_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=BOOKING_COLUMNS)
    # Booking ids reach 2^63: unsigned 64-bit, never float.
    frame["booking_id"] = frame["booking_id"].astype("uint64")
    return frame


def chats_frame(chats: Iterable[dict], user_id: int) -> pd.DataFrame:
    rows = []
    for chat in chats:
        context = chat.get("context") or {}
        is_item = context.get("type") == "item"
        other = next((u for u in chat.get("users") or [] if u.get("id") != user_id), {})
        last = chat.get("last_message") or {}
        rows.append({
            "chat_id": chat["id"],
            "item_id": (context.get("value") or {}).get("id") if is_item else None,
            "chat_type": "u2i" if is_item else "u2u",
            "created": timestamp(chat.get("created")),
            "updated": timestamp(chat.get("updated")),
            "other_user_id": other.get("id"),
            "other_user_name": other.get("name"),
            "last_message_text": message_text(last) if last else None,
            "last_message_at": timestamp(last.get("created")),
            "last_message_direction": last.get("direction"),
        })
    return pd.DataFrame(rows, columns=["chat_id", "item_id", "chat_type", "created", "updated", "other_user_id",
                                       "other_user_name", "last_message_text", "last_message_at",
                                       "last_message_direction"])


def message_text(message: dict) -> str | None:
    """The readable text of a message; only some types carry ``content.text``."""
    content = message.get("content") or {}
    if content.get("text"):
        return content["text"]
    for key in ("link", "location"):
        if isinstance(content.get(key), dict) and content[key].get("text"):
            return content[key]["text"]
    if isinstance(content.get("item"), dict):
        return content["item"].get("title")
    return None


def message_row(chat_id: str, message: dict, user_id: int) -> dict:
    return {
        "message_id": message["id"],
        "chat_id": chat_id,
        "author_id": message.get("author_id"),
        "direction": message.get("direction") or ("out" if message.get("author_id") == user_id else "in"),
        "type": message.get("type"),
        "text": message_text(message),
        "created": message.get("created"),  # unix seconds: made timestamps by messages_frame, all at once
        "is_read": message.get("is_read"),
        "content": _to_json(message.get("content") or {}),
    }


_to_json = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps(..., ensure_ascii=False) builds one per call


def messages_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["message_id", "chat_id", "author_id", "direction", "type", "text",
                                        "created", "is_read", "content"])
    frame["created"] = pd.to_datetime(frame["created"], unit="s")
    return frame


REVIEW_COLUMNS = ["review_id", "item_id", "item_title", "score", "stage", "text", "used_in_score", "can_answer",
                  "sender_name", "image_count", "images", "created_at", "answer_id", "answer_text", "answer_status",
                  "answer_created_at", "answer_reject_reasons"]


def review_row(review: dict) -> dict:
    """A review of getReviewsV1 as a row: the answer flattened, images as JSON (their URLs by size)."""
    item = review.get("item") or {}
    answer = review.get("answer") or {}
    images = review.get("images") or []
    return {
        "review_id": int(review["id"]),
        "item_id": item.get("id"),
        "item_title": item.get("title"),
        "score": review.get("score"),
        "stage": review.get("stage"),
        "text": review.get("text"),
        "used_in_score": review.get("usedInScore"),
        "can_answer": review.get("canAnswer"),
        "sender_name": (review.get("sender") or {}).get("name"),
        "image_count": len(images),
        "images": _to_json(images) if images else None,
        "created_at": timestamp(review.get("createdAt")),
        "answer_id": answer.get("id"),
        "answer_text": answer.get("text"),
        "answer_status": answer.get("status"),
        "answer_created_at": timestamp(answer.get("createdAt")),
        "answer_reject_reasons": _to_json(answer["reject_reasons"]) if answer.get("reject_reasons") else None,
    }


def reviews_frame(rows: list[dict]) -> pd.DataFrame:
    """``review_row`` rows as a frame for ``Store.upsert_reviews``."""
    return pd.DataFrame(rows, columns=REVIEW_COLUMNS)


def review_state(row: dict) -> tuple:
    """What a sync compares with the store to tell a changed review (``Store.review_states``)."""
    return (row["score"], row["text"], row["answer_id"], row["answer_status"], row["answer_text"])
