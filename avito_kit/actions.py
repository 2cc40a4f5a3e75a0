"""Writes to Avito a host makes by hand: close or open calendar dates, reply to a guest, answer a review.

Each write is planned first (a ``Plan`` a person can read and confirm, computed from the store with nothing
sent), then applied: an audit row is written as ``pending`` before sending and completed with the outcome, and
local tables change only when Avito accepted. Used by the CLI and the widgets alike.

Avito's day is Moscow's: "today" (what is past, where the coming year starts) is ``avito_today(clock)`` unless
a caller passes ``today``.

Calendar rules (short-term-rent.json): Avito keeps no calendar we can read back, so the store keeps the host's
manual blocks. A block push carries the listing's full set of current and future blocks (replace or merge is not
documented); an availability push is the whole coming year (every date left out is closed). So the intent holds
under both: an open pushes the blocks left (enough where a push replaces) and then the availability, which
reopens the opened nights where a push merges and can remove nothing; a later block push carries only the blocks
still wanted, so it never re-closes what was opened (tests/test_variants.py reads the effective calendar).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pandas as pd

from .checks import check_answer_text, check_chat_id, check_id, check_range, check_text
from .client import AvitoApiClient, check_base_params, check_prices
from .dates import Clock, avito_today, utc_now
from .errors import AvitoClientError, AvitoConflict, AvitoPaymentRequired, AvitoTransportError
from .format import as_date, format_date, format_rub, is_missing, none_if_missing, plural, shorten
from .rows import message_row, messages_frame
from .store import Store

__all__ = [
    "ANSWER_STATUS_TEXT",
    "AVAILABILITY_DAYS",
    "CABINET_WARNING",
    "FIRST_PUSH_WARNING",
    "NO_MESSENGER_TEXT",
    "ListingPlan",
    "Plan",
    "PricePlan",
    "PullPlan",
    "ReviewAnswerPlan",
    "apply_listing_plan",
    "apply_plan",
    "apply_price_plan",
    "apply_pull",
    "delete_review_answer",
    "export_events",
    "listing_payload",
    "mark_read",
    "plan_block",
    "plan_delete_review_answer",
    "plan_listing",
    "plan_open",
    "plan_prices",
    "plan_pull",
    "plan_review_answer",
    "refusal_text",
    "review_line",
    "send_reply",
    "send_review_answer",
]

AVAILABILITY_DAYS = 365
NO_MESSENGER_TEXT = "Авито ответил 402: у аккаунта не подключена платная подписка на API мессенджера"
Range = tuple[dt.date, dt.date]  # nights start <= night < end
CABINET_WARNING = ("Внимание: доступность уходит на весь год целиком. Даты, закрытые вручную в кабинете Авито, "
                   "avito_kit не видит — Авито их откроет")
FIRST_PUSH_WARNING = ("Это первая отправка календаря этого объявления из avito_kit: всё, что закрыто в кабинете "
                      "Авито, будет открыто. Нужно отдельное подтверждение")


@dataclass
class Plan:
    """A calendar change ready to send: what the host asked, what Avito will receive, what blocks it."""

    action: str  # "block" | "open"
    item_id: int
    date_from: dt.date
    date_to: dt.date
    blocks_after: list[dict]  # the listing's manual blocks once applied (what the store will keep)
    bookings_payload: list[dict]  # POST .../bookings: current and future blocks, clipped to today
    availability_payload: list[dict] | None = None  # POST /realty/v1/items/intervals (open only)
    conflicts: list[dict] = field(default_factory=list)  # active bookings in the range: the plan is refused
    external_conflicts: list[dict] = field(default_factory=list)  # other platforms' closures an open would undo
    last_push: dict | None = None  # what the last accepted push of this listing held (None: avito_kit never pushed)

    @property
    def first_push(self) -> bool:
        """No push of this listing's calendar from avito_kit yet: the host confirms it explicitly (a full-year
        availability push opens every date closed in the Avito cabinet, which avito_kit cannot read)."""
        return self.last_push is None

    @property
    def refused(self) -> bool:
        return bool(self.conflicts or self.external_conflicts)

    def describe(self) -> str:
        """The preview shown before a person confirms (in Russian: the host reads it)."""
        nights = (self.date_to - self.date_from).days
        verb = "Закрыть" if self.action == "block" else "Открыть"
        lines = [f"{verb} даты объявления {self.item_id}: ночи {format_date(self.date_from)} – "
                 f"{format_date(self.date_to - dt.timedelta(days=1))} "
                 f"({nights} {plural(nights, 'ночь', 'ночи', 'ночей')})"]
        if self.conflicts:
            lines.append("Отказ: в диапазоне есть активные брони:")
            lines += [f"  бронь №{c['booking_id']}: заезд {format_date(c['check_in'])}, выезд "
                      f"{format_date(c['check_out'])}" + (f", {c['guest_name']}" if c.get("guest_name") else "")
                      for c in self.conflicts]
        if self.external_conflicts:
            lines.append("Отказ: эти ночи заняты по календарю другой площадки (снимите закрытие там):")
            lines += [f"  {c['source']}: ночи {format_date(c['date_start'])} – "
                      f"{format_date(c['date_end'] - dt.timedelta(days=1))}" for c in self.external_conflicts]
        if self.refused:
            return "\n".join(lines)
        ranges = len(self.bookings_payload)
        if ranges:
            lines.append(f"В Авито уйдут все ручные закрытия ({ranges} "
                         f"{plural(ranges, 'период', 'периода', 'периодов')}):")
        else:
            lines.append("В Авито уйдёт пустой список ручных закрытий: закрытых вручную дат не останется")
        lines += [f"  закрыты ночи {format_date(b['date_start'])} – "  # date_end is the first night left open
                  f"{format_date(dt.date.fromisoformat(b['date_end']) - dt.timedelta(days=1))}"
                  for b in self.bookings_payload]
        lines += _changes_text(self.bookings_payload, self.last_push)
        if self.availability_payload is not None:
            opened = len(self.availability_payload)
            lines.append(f"Затем доступность на год вперёд ({opened} "
                         f"{plural(opened, 'открытый период', 'открытых периода', 'открытых периодов')}; "
                         "даты вне них Авито закроет)")
            lines.append(CABINET_WARNING)
            if self.first_push:
                lines.append(FIRST_PUSH_WARNING)
        return "\n".join(lines)


def plan_block(store: Store, item_id: int, date_from, date_to, comment: str | None = None,
               today: dt.date | None = None, *, clock: Clock | None = None) -> Plan:
    """Close nights ``date_from`` <= night < ``date_to``: merged into the listing's blocks; refused (with
    ``conflicts`` filled) when an active booking overlaps the range."""
    item_id, first, last, today = _checked(store, item_id, date_from, date_to, today or avito_today(clock))
    blocks = _merge([*_blocks(store, item_id), {"date_start": first, "date_end": last, "comment": comment}])
    plan = Plan("block", item_id, first, last, blocks, _closures_payload(store, item_id, blocks, today)[0])
    # Only the nights pushed can clash: past ones are kept locally but never sent (Avito refuses the past).
    plan.conflicts = _active_bookings(store, item_id, max(first, today), last)
    plan.last_push = store.last_calendar_push(item_id)
    return plan


def plan_open(store: Store, item_id: int, date_from, date_to, today: dt.date | None = None, *,
              clock: Clock | None = None) -> Plan:
    """Open nights ``date_from`` <= night < ``date_to``: subtracted from the blocks (splitting one if needed),
    then every free range of the coming year (from Avito's today) pushed as the listing's availability."""
    item_id, first, last, today = _checked(store, item_id, date_from, date_to, today or avito_today(clock))
    blocks = _subtract(_blocks(store, item_id), first, last)
    busy = [(b["date_start"], b["date_end"]) for b in blocks]
    busy += [(b["check_in"], b["check_out"]) for b in _active_bookings(store, item_id, today,
                                                                          today + dt.timedelta(AVAILABILITY_DAYS))]
    busy += [(c["date_start"], c["date_end"]) for c in _external(store, item_id)]
    free = _free_ranges(busy, today, today + dt.timedelta(days=AVAILABILITY_DAYS))
    availability = [{"date_start": a.isoformat(), "date_end": b.isoformat(), "open": 1} for a, b in free]
    plan = Plan("open", item_id, first, last, blocks, _closures_payload(store, item_id, blocks, today)[0],
                availability)
    plan.external_conflicts = [c for c in _external(store, item_id) if c["date_start"] < last and
                               c["date_end"] > max(first, today)]
    plan.conflicts = _active_bookings(store, item_id, max(first, today), last)
    plan.last_push = store.last_calendar_push(item_id)
    return plan


async def apply_plan(client: AvitoApiClient, store: Store, plan: Plan) -> str:
    """Send a confirmed plan; returns the audit outcome. Raises ``ValueError`` for a refused plan (nothing sent)
    and Avito's error when it refused (``AvitoConflict`` on a paid booking: nothing changes locally either)."""
    if plan.refused:
        raise ValueError(f"listing {plan.item_id} has active bookings or other platforms' closures in "
                         f"{plan.date_from} .. {plan.date_to}; nothing was sent")
    payload = {"bookings": plan.bookings_payload, "intervals": plan.availability_payload}
    audit_id = store.audit_begin(f"calendar_{plan.action}", str(plan.item_id), payload)
    try:
        await client.update_item_bookings(item_id=plan.item_id, bookings_payload=plan.bookings_payload)
    except AvitoClientError as exc:  # Avito answered and closed nothing
        store.audit_finish(audit_id, "refused", f"{exc}; {exc.describe()}" if isinstance(exc, AvitoConflict)
                           else str(exc))
        raise
    except Exception as exc:  # whatever stopped it, the pending row must not stay pending
        store.audit_finish(audit_id, "failed", str(exc))
        raise
    user_id = await client.user_id()
    store.replace_calendar_blocks(user_id, plan.item_id, _blocks_frame(plan.blocks_after))
    if plan.availability_payload is not None:
        try:
            await client.update_item_availability(item_id=plan.item_id, availability_payload=plan.availability_payload)
        except Exception as exc:
            store.audit_finish(audit_id, "partial", f"blocks pushed; availability failed: {exc}")
            raise
    store.record_calendar_push(plan.item_id, plan.bookings_payload, plan.availability_payload, audit_id=audit_id)
    store.audit_finish(audit_id, "ok")
    return "ok"


@dataclass
class PullPlan:
    """A listing's linked calendars read: what failed, what lies over bookings, and the block push if it changed."""

    item_id: int
    bookings_payload: list[dict]  # manual + external closures, as the next block push carries them
    changed: bool  # differs from the last push avito_kit made (a pull that changes nothing sends nothing)
    failed: dict[str, str] = field(default_factory=dict)  # link name -> one line
    over_bookings: list[dict] = field(default_factory=list)  # external closures over an active booking (not pushed)
    read: list[str] = field(default_factory=list)  # link names read (or not modified since)
    last_push: dict | None = None

    @property
    def refused(self) -> bool:
        """Never: what cannot be pushed (closures over bookings) is left out and reported, not refused whole."""
        return False

    def describe(self) -> str:
        """The host's preview (Russian)."""
        lines = [f"Связанные календари объявления {self.item_id}: прочитано {len(self.read)}"
                 + (f", с ошибкой {len(self.failed)}" if self.failed else "")]
        lines += [f"  {name}: не прочитан ({error}); его прежние закрытия оставлены" for name, error in
                  self.failed.items()]
        lines += [f"  {c['source']}: ночи {format_date(c['date_start'])} – "
                  f"{format_date(c['date_end'] - dt.timedelta(days=1))} пересекаются с бронью №{c['booking_id']} "
                  "на Авито: эти ночи уже заняты бронью, в Авито не отправляются — проверьте двойное бронирование"
                  for c in self.over_bookings]
        if not self.changed:
            lines.append("Закрытия не изменились: в Авито ничего не отправляется")
            return "\n".join(lines)
        ranges = len(self.bookings_payload)
        lines.append(f"В Авито уйдут все закрытия, ручные и других площадок ({ranges} "
                     f"{plural(ranges, 'период', 'периода', 'периодов')}):")
        lines += [f"  закрыты ночи {format_date(b['date_start'])} – "
                  f"{format_date(dt.date.fromisoformat(b['date_end']) - dt.timedelta(days=1))}"
                  + (f" ({b['comment']})" if b.get("comment") else "") for b in self.bookings_payload]
        lines += _changes_text(self.bookings_payload, self.last_push)
        return "\n".join(lines)


async def plan_pull(store: Store, item_id: int, *, today: dt.date | None = None, clock: Clock | None = None,
                    transport=None) -> PullPlan:
    """Read every link of a listing (a failed one keeps its last closures and is named in ``failed``), keep their
    closures in the store, and plan the block push. Nothing is sent to Avito."""
    from .feed_fetch import FeedError, fetch_feed
    from .feeds import parse_feed

    item_id = check_id(item_id, "item_id")
    today = today or avito_today(clock)
    failed, read = {}, []
    for link in store.calendar_links(item_id).itertuples():
        try:
            fetched = await fetch_feed(link.source, etag=none_if_missing(link.etag),
                                       last_modified=none_if_missing(link.last_modified), transport=transport)
            closures = None if fetched.body is None else parse_feed(fetched.body, today)
        except (FeedError, ValueError) as exc:
            failed[link.name] = str(exc)
            store.record_link_read(item_id, link.name, error=str(exc))
            continue
        frame = None if closures is None else pd.DataFrame(
            [(c.date_start, c.date_end, c.summary) for c in closures], columns=["date_start", "date_end", "summary"])
        store.record_link_read(item_id, link.name, closures=frame, etag=fetched.etag,
                               last_modified=fetched.last_modified)
        read.append(link.name)
    payload, over = _closures_payload(store, item_id, _blocks(store, item_id), today)
    last = store.last_calendar_push(item_id)
    changed = bool(payload) if last is None else payload != _push_set(
        [{"date_start": dt.date.fromisoformat(b["date_start"]), "date_end": dt.date.fromisoformat(b["date_end"]),
          "comment": b.get("comment")} for b in last["bookings"]], today)
    return PullPlan(item_id, payload, changed, failed, over, read, last)


async def apply_pull(client: AvitoApiClient, store: Store, plan: PullPlan) -> str:
    """Send a pull's block push when it changed (audited ``calendar_pull``); "unchanged" when nothing was sent."""
    if not plan.changed:
        return "unchanged"
    audit_id = store.audit_begin("calendar_pull", str(plan.item_id), {"bookings": plan.bookings_payload})
    try:
        await client.update_item_bookings(item_id=plan.item_id, bookings_payload=plan.bookings_payload)
    except Exception as exc:
        store.audit_finish(audit_id, "refused" if isinstance(exc, AvitoClientError) else "failed", str(exc))
        raise
    store.record_calendar_push(plan.item_id, plan.bookings_payload, None, audit_id=audit_id)
    store.audit_finish(audit_id, "ok")
    return "ok"


def export_events(store: Store, item_id: int, *, with_names: bool = False, today: dt.date | None = None,
                  clock: Clock | None = None) -> list[dict]:
    """A listing's active bookings and closures (manual and other platforms') from today on, as events for
    ``feeds.export_calendar``; guests' names only with ``with_names``."""
    item_id = check_id(item_id, "item_id")
    today = today or avito_today(clock)
    events = [{"uid": f"booking-{b['booking_id']}@avito_kit", "date_start": b["check_in"], "date_end": b["check_out"],
               "summary": f"Авито: бронь {b['guest_name']}" if with_names and b.get("guest_name") else "Авито: бронь"}
              for b in _active_bookings(store, item_id, today, today + dt.timedelta(days=AVAILABILITY_DAYS))]
    events += [{"uid": f"block-{item_id}-{b['date_start']}@avito_kit", "date_start": b["date_start"],
                "date_end": b["date_end"], "summary": "Авито: закрыто"}
               for b in _blocks(store, item_id) if b["date_end"] > today]
    return sorted(events, key=lambda e: (e["date_start"], e["uid"]))


async def send_reply(client: AvitoApiClient, store: Store, chat_id: str, text: str, *,
                     clock: Clock | None = None) -> dict:
    """Send ``text`` to a chat once (never retried after it may have arrived), keep it in ``messages`` and
    audit it. Returns the message Avito created."""
    chat_id, text = check_chat_id(chat_id), check_text(text)
    audit_id = store.audit_begin("reply", chat_id, {"text": text})
    try:
        sent = await client.send_message(chat_id, text)  # positional: the seed names the text `text_content`
    except AvitoTransportError as exc:
        if exc.reached_server:  # the guest may have it already: say so rather than invite a second send
            store.audit_finish(audit_id, "unknown", f"{exc}; the message may have arrived: check the chat "
                               "before sending again")
        else:
            store.audit_finish(audit_id, "failed", str(exc))
        raise
    except AvitoClientError as exc:  # Avito answered and refused it (402 without the subscription): not sent
        store.audit_finish(audit_id, "refused", str(exc))
        raise
    except Exception as exc:
        store.audit_finish(audit_id, "failed", str(exc))
        raise
    user_id = await client.user_id()
    message = {"direction": "out", "author_id": user_id, "type": "text", "content": {"text": text},
               "created": int(utc_now(clock).replace(tzinfo=dt.UTC).timestamp()), **(sent or {})}
    store.upsert_messages(messages_frame([message_row(chat_id, message, user_id)]), user_id)
    store.audit_finish(audit_id, "ok", json.dumps({"message_id": message.get("id")}))
    return message


async def mark_read(client: AvitoApiClient, store: Store, chat_id: str, *, clock: Clock | None = None) -> None:
    """Mark a chat read on Avito (audited as ``mark_read``), then its incoming messages in the store."""
    audit_id = store.audit_begin("mark_read", chat_id)
    try:
        await client.mark_message_read(chat_id=chat_id)
    except Exception as exc:
        store.audit_finish(audit_id, "refused" if isinstance(exc, AvitoClientError) else "failed", str(exc))
        raise
    store.mark_chat_read(chat_id, await client.user_id(), utc_now(clock))
    store.audit_finish(audit_id, "ok")


def refusal_text(exc: BaseException) -> str | None:
    """The host's one Russian line for a write Avito refused for a reason the host can act on, else None:
    402 (no messenger subscription) and 409 (the paid bookings a block overlaps, ``AvitoConflict.describe()``).
    The CLI and the widgets show the same line."""
    if isinstance(exc, AvitoPaymentRequired):
        return NO_MESSENGER_TEXT
    if isinstance(exc, AvitoConflict):
        return f"Авито отказал: {exc.describe()}; ничего не изменено"
    return None


# -- pure range arithmetic ------------------------------------------------------------------------------


def _checked(store: Store, item_id, date_from, date_to, today: dt.date) -> tuple[int, dt.date, dt.date, dt.date]:
    item_id = check_id(item_id, "item_id")
    first, last = check_range(date_from, date_to, ("from", "to"))
    if last <= today:
        raise ValueError(f"the range {first} .. {last} is in the past; Avito's calendar starts today ({today})")
    if not store.has_item(item_id):
        raise ValueError(f"listing {item_id} is not in the store; run `avito-kit sync` first")
    return item_id, first, last, today


def _blocks(store: Store, item_id: int) -> list[dict]:
    frame = store.calendar_blocks(item_id)
    return [{"date_start": as_date(r.date_start), "date_end": as_date(r.date_end),
             "comment": none_if_missing(r.comment)}
            for r in frame.itertuples()]




def _merge(blocks: list[dict]) -> list[dict]:
    """Overlapping or touching blocks become one; their comments are kept, joined."""
    merged: list[dict] = []
    for block in sorted(blocks, key=lambda b: b["date_start"]):
        if merged and block["date_start"] <= merged[-1]["date_end"]:
            last = merged[-1]
            last["date_end"] = max(last["date_end"], block["date_end"])
            comments = [c for c in (last["comment"], block["comment"]) if c]
            last["comment"] = "; ".join(dict.fromkeys(comments)) or None
        else:
            merged.append(dict(block))
    return merged


def _subtract(blocks: list[dict], first: dt.date, last: dt.date) -> list[dict]:
    kept = []
    for block in blocks:
        if block["date_end"] <= first or block["date_start"] >= last:
            kept.append(block)
            continue
        if block["date_start"] < first:
            kept.append({**block, "date_end": first})
        if block["date_end"] > last:
            kept.append({**block, "date_start": last})
    return kept


def _changes_text(payload: list[dict], last_push: dict | None) -> list[str]:
    """What a block push changes against the last one avito_kit made (Avito keeps no calendar to read back)."""
    if last_push is None:
        return ["Прежних отправок календаря этого объявления из avito_kit нет: сравнить не с чем"]
    def nights(entries):
        return {(b["date_start"], b["date_end"]) for b in entries}

    now, before = nights(payload), nights(last_push["bookings"])
    if now == before:
        return ["Закрытия те же, что в прошлой отправке"]
    def span(pair):
        return f"{format_date(pair[0])} – {format_date(dt.date.fromisoformat(pair[1]) - dt.timedelta(days=1))}"

    return (["Против прошлой отправки:"] + [f"  + закрываются ночи {span(p)}" for p in sorted(now - before)]
            + [f"  − больше не закрыты ночи {span(p)}" for p in sorted(before - now)])


def _external(store: Store, item_id: int) -> list[dict]:
    return [{"source": r.source, "date_start": as_date(r.date_start), "date_end": as_date(r.date_end),
             "summary": none_if_missing(r.summary)} for r in store.external_closures(item_id).itertuples()]


def _closures_payload(store: Store, item_id: int, blocks: list[dict], today: dt.date) -> tuple[list[dict], list[dict]]:
    """The block push of a listing: its manual blocks and other platforms' closures (the source's name as the
    comment), merged and clipped to today; and the external closures found over an active booking. Those nights
    are closed by the booking already and a block over a paid booking is refused (409) whatever else it holds,
    so they are left out of the push and reported rather than retried into the same refusal."""
    horizon = today + dt.timedelta(days=AVAILABILITY_DAYS)
    bookings = _active_bookings(store, item_id, today, horizon)
    over, external = [], []
    for closure in _external(store, item_id):
        pieces = [{"date_start": closure["date_start"], "date_end": closure["date_end"], "comment": closure["source"]}]
        for booking in bookings:
            if booking["check_in"] < closure["date_end"] and booking["check_out"] > closure["date_start"]:
                over.append({**closure, "booking_id": booking["booking_id"], "check_in": booking["check_in"],
                             "check_out": booking["check_out"]})
                pieces = _subtract(pieces, booking["check_in"], booking["check_out"])
        external += pieces
    return _push_set(_merge([*blocks, *external]), today), over


def _push_set(blocks: list[dict], today: dt.date) -> list[dict]:
    """Blocks that end after today, clipped to start today at the earliest: Avito refuses past dates."""
    return [{"date_start": max(b["date_start"], today).isoformat(), "date_end": b["date_end"].isoformat(),
             "type": "manual", "comment": b["comment"]}
            for b in blocks if b["date_end"] > today]


def _free_ranges(busy: list[Range], start: dt.date, end: dt.date) -> list[Range]:
    free, cursor = [], start
    for a, b in sorted(busy):
        if a > cursor:
            free.append((cursor, min(a, end)))
        cursor = max(cursor, b)
        if cursor >= end:
            break
    if cursor < end:
        free.append((cursor, end))
    return [(a, b) for a, b in free if a < b]


def _active_bookings(store: Store, item_id: int, first: dt.date, last: dt.date) -> list[dict]:
    frame = store.active_bookings(item_id, first, last)
    return [{**r, "check_in": as_date(r["check_in"]), "check_out": as_date(r["check_out"]),
             "guest_name": none_if_missing(r["guest_name"])}
            for r in frame.to_dict("records")]


def _blocks_frame(blocks: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(blocks, columns=["date_start", "date_end", "comment"])


# -- prices and base parameters ---------------------------------------------------------------------------
# Avito never reads these back (REAL-WORLD.md): the store keeps every push Avito accepted, and a push whose
# answer was lost after sending is audited `unknown` (not recorded as a price, never resent automatically).


@dataclass
class PricePlan:
    """Nightly prices for nights ``date_from`` <= night < ``date_to``, ready to send (postRealtyPrices)."""

    item_id: int
    date_from: dt.date
    date_to: dt.date  # the first night left as it was
    prices_payload: list[dict]  # what Avito receives: date_to INCLUSIVE

    def describe(self) -> str:
        """The preview shown before a person confirms (in Russian)."""
        nights = (self.date_to - self.date_from).days
        lines = [f"Цены объявления {self.item_id}: ночи {format_date(self.date_from)} – "
                 f"{format_date(self.date_to - dt.timedelta(days=1))} ({_nights(nights)})"]
        for price in self.prices_payload:
            lines.append(f"  {format_date(price['date_from'])} – {format_date(price['date_to'])} включительно: "
                         + _price_terms(price))
        lines.append("Авито не показывает цены обратно: avito_kit сохранит отправленное.")
        return "\n".join(lines)


@dataclass
class ListingPlan:
    """A listing's base parameters, ready to send (postBaseParams): only the fields the host gave."""

    item_id: int
    params_payload: dict

    def describe(self) -> str:
        """The preview shown before a person confirms (in Russian)."""
        p = self.params_payload
        lines = [f"Базовые параметры объявления {self.item_id}:"]
        if "night_price" in p:
            lines.append(f"  цена за ночь: {format_rub(p['night_price'])}")
        if "minimal_duration" in p:
            lines.append(f"  минимальный срок: {_nights(p['minimal_duration'])}")
        if "instant" in p:
            instant = p["instant"]
            text = "включено" if instant["active"] else "выключено"
            if instant.get("min_days") is not None:
                text += f", не ближе {instant['min_days']} дн. до заезда"
            if instant.get("max_days") is not None:
                text += f", не дальше {instant['max_days']} дн. до заезда"
            lines.append(f"  мгновенное бронирование: {text}")
        if "discount" in p:
            lines.append("  скидки: " + (", ".join(f"от {_nights(d['threshold'])} – {d['percent']} %"
                                                   for d in p["discount"]) or "нет"))
        if "refund" in p:
            lines.append(f"  бесплатная отмена: за {p['refund']['days']} дн. до заезда")
        if "extra_guest_fee" in p:
            lines.append(f"  доплата за гостя: {format_rub(p['extra_guest_fee'])}")
        if "extra_guest_threshold" in p:
            lines.append(f"  доплата с гостя сверх {p['extra_guest_threshold']}")
        return "\n".join(lines)


def plan_prices(store: Store, item_id: int, date_from, date_to, night_price: int, *,
                minimal_duration: int | None = None, extra_guest_fee: int | None = None,
                today: dt.date | None = None, clock: Clock | None = None) -> PricePlan:
    """Price nights ``date_from`` <= night < ``date_to`` (as ``calendar block``); Avito gets the inclusive
    last night. Refused (``ValueError``) for past nights, a listing not in the store or a value outside the spec.

    >>> plan = plan_prices(store, item_id, "2026-12-04", "2026-12-06", 5500, minimal_duration=2)
    >>> plan.prices_payload
    [{'date_from': '2026-12-04', 'date_to': '2026-12-05', 'night_price': 5500, 'minimal_duration': 2}]
    """
    item_id, first, last, today = _checked(store, item_id, date_from, date_to, today or avito_today(clock))
    if first < today:
        raise ValueError(f"the first night {first} is in the past; Avito takes prices from today ({today}) on")
    price = {"date_from": first, "date_to": last - dt.timedelta(days=1), "night_price": night_price,
             "minimal_duration": minimal_duration, "extra_guest_fee": extra_guest_fee}
    payload = check_prices([{k: v for k, v in price.items() if v is not None}], today)
    return PricePlan(item_id, first, last, payload)


def plan_listing(store: Store, item_id: int, **params) -> ListingPlan:
    """Base parameters to send; only those given (the keywords of ``listing_payload``). Instant-booking days
    without ``instant_active`` keep the state last pushed.

    >>> plan_listing(store, item_id, minimal_duration=2, instant_active=True).params_payload
    {'minimal_duration': 2, 'instant': {'active': True}}
    """
    item_id = check_id(item_id, "item_id")
    if not store.has_item(item_id):
        raise ValueError(f"listing {item_id} is not in the store; run `avito-kit sync` first")
    if params.get("instant_active") is None:
        params["instant_active_before"] = none_if_missing(store.current_base_params(item_id)["instant_active"])
    return ListingPlan(item_id, listing_payload(**params))


def listing_payload(*, night_price: int | None = None, minimal_duration: int | None = None,
                    instant_active: bool | None = None, instant_min_days: int | None = None,
                    instant_max_days: int | None = None, discounts: dict[int, int] | None = None,
                    refund_days: int | None = None, extra_guest_fee: int | None = None,
                    extra_guest_threshold: int | None = None, instant_active_before: bool | None = None) -> dict:
    """The postBaseParams body for the values given, checked (``ValueError``); pure, so the CLI checks its
    arguments before opening anything. ``discounts``: ``{nights: percent}`` (nights 3, 7 or 30), the full set
    (``{}`` clears them). Instant-booking days need ``instant_active`` or the state last pushed
    (``instant_active_before``)."""
    params: dict = {"night_price": night_price, "minimal_duration": minimal_duration,
                    "extra_guest_fee": extra_guest_fee, "extra_guest_threshold": extra_guest_threshold}
    if instant_active is not None or instant_min_days is not None or instant_max_days is not None:
        active = instant_active if instant_active is not None else instant_active_before
        if active is None:
            raise ValueError("instant booking days need --instant on or off (avito_kit has not pushed it yet)")
        params["instant"] = {"active": bool(active), "min_days": instant_min_days, "max_days": instant_max_days}
    if discounts is not None:
        params["discount"] = [{"threshold": nights, "percent": percent} for nights, percent in discounts.items()]
    if refund_days is not None:
        params["refund"] = {"days": refund_days}
    given = {k: v for k, v in params.items() if v is not None}
    if not given:
        raise ValueError("no base parameter to send: give at least one (--night-price, --min-stay, --instant, ...)")
    return check_base_params(given)


async def apply_price_plan(client: AvitoApiClient, store: Store, plan: PricePlan) -> str:
    """Send confirmed prices once, audited as ``price_set``; kept in ``prices`` when Avito accepted."""
    audit_id = await _send_audited(store, "price_set", plan.item_id, {"prices": plan.prices_payload},
                                   lambda: client.update_item_prices(plan.item_id, plan.prices_payload))
    store.record_price_push(await client.user_id(), plan.item_id, plan.prices_payload, audit_id=audit_id)
    store.audit_finish(audit_id, "ok")
    return "ok"


async def apply_listing_plan(client: AvitoApiClient, store: Store, plan: ListingPlan) -> str:
    """Send confirmed base parameters once, audited as ``listing_set``; kept in ``base_params`` when accepted."""
    audit_id = await _send_audited(store, "listing_set", plan.item_id, plan.params_payload,
                                   lambda: client.update_item_base_params(plan.item_id, plan.params_payload))
    store.record_base_params(await client.user_id(), plan.item_id, plan.params_payload, audit_id=audit_id)
    store.audit_finish(audit_id, "ok")
    return "ok"


async def _send_audited(store: Store, action: str, item_id: int, payload: dict,
                        send: Callable[[], Awaitable[object]], *, where: str = "the listing") -> int:
    """Audit ``pending``, send once; on failure finish the audit (``unknown`` when Avito may have applied it:
    check ``where`` in Avito) and re-raise. Returns the audit id, still pending, for the caller to finish once it
    has stored the result."""
    audit_id = store.audit_begin(action, str(item_id), payload)
    try:
        await send()
    except AvitoTransportError as exc:
        if exc.reached_server:
            store.audit_finish(audit_id, "unknown", f"{exc}; Avito may have applied it: check {where} in "
                               "Avito before sending again")
        else:
            store.audit_finish(audit_id, "failed", str(exc))
        raise
    except Exception as exc:
        store.audit_finish(audit_id, "failed", str(exc))
        raise
    return audit_id


def _price_terms(price: dict) -> str:
    terms = [f"{format_rub(price['night_price'])} за ночь"]
    if price.get("minimal_duration") is not None:
        terms.append(f"минимум {_nights(price['minimal_duration'])}")
    if price.get("extra_guest_fee") is not None:
        terms.append(f"доплата за гостя {format_rub(price['extra_guest_fee'])}")
    return ", ".join(terms)


def _nights(n: int) -> str:
    return f"{n} {plural(n, 'ночь', 'ночи', 'ночей')}"


# -- answers to reviews (ratings.json) -------------------------------------------------------------------------

ANSWER_STATUS_TEXT = {"moderation": "на модерации", "published": "опубликован", "rejected": "отклонён модерацией"}


@dataclass
class ReviewAnswerPlan:
    """An answer to write (``text``) or to remove (``text`` None, ``answer_id`` given), with the review as the
    store knows it (None when the store has not seen it yet) for the preview."""

    review_id: int | None
    text: str | None
    answer_id: int | None = None
    review: dict | None = None

    def describe(self) -> str:
        """The preview shown before a person confirms (in Russian)."""
        review = self.review or {}
        if self.text is None:
            lines = [f"Удалить ответ {self.answer_id}" + (f" на отзыв {self.review_id}" if self.review_id else "")]
        else:
            lines = [f"Ответ на отзыв {self.review_id}"]
        if review:
            lines.append(f"  {review_line(review)}")
            if review.get("text"):
                lines.append(f"  «{shorten(review['text'], 200)}»")
        if self.text is None:
            if review.get("answer_text"):
                status = ANSWER_STATUS_TEXT.get(review.get("answer_status"), review.get("answer_status"))
                lines.append(f"Удаляемый ответ ({status}): «{shorten(review['answer_text'], 200)}»")
        else:
            lines.append(f"Ответ: «{self.text}»")
            lines.append("Авито проверит ответ модерацией перед публикацией.")
        return "\n".join(lines)


def review_line(review: dict) -> str:
    """One line about a stored review: score, guest, listing, date (the previews and the widget share it)."""
    parts = [f"оценка {int(review['score'])}/5"]
    if not is_missing(review.get("sender_name")):
        parts.append(str(review["sender_name"]))
    if not is_missing(review.get("item_title")):
        parts.append(f"«{review['item_title']}»")
    if not is_missing(review.get("created_at")):
        parts.append(format_date(review["created_at"]))
    return ", ".join(parts)


def _stored_review(store: Store, *, review_id: int | None = None, answer_id: int | None = None) -> dict | None:
    frame = store.reviews()
    if frame.empty:
        return None
    found = frame[frame.review_id == review_id] if review_id is not None else frame[frame.answer_id == answer_id]
    return None if found.empty else {k: none_if_missing(v) for k, v in found.iloc[0].to_dict().items()}


def plan_review_answer(store: Store, review_id, text) -> ReviewAnswerPlan:
    """An answer to a review, checked (a positive id, a text not blank) before anything is sent; refused when
    the store shows the review already answered (Avito takes one answer; a rejected one may be replaced)."""
    review_id, text = check_id(review_id, "review_id"), check_answer_text(text)
    review = _stored_review(store, review_id=review_id)
    if review and review.get("answer_id") is not None and review.get("answer_status") != "rejected":
        raise ValueError(f"review {review_id} already has answer {int(review['answer_id'])}; delete it first")
    return ReviewAnswerPlan(review_id, text, review=review)


def plan_delete_review_answer(store: Store, answer_id) -> ReviewAnswerPlan:
    """Removing an answer, checked before anything is sent."""
    answer_id = check_id(answer_id, "answer_id")
    review = _stored_review(store, answer_id=answer_id)
    return ReviewAnswerPlan(int(review["review_id"]) if review else None, None, answer_id, review)


async def send_review_answer(client: AvitoApiClient, store: Store, review_id, text, *,
                             clock: Clock | None = None) -> dict:
    """Answer a review once (never retried after it may have arrived), audited as ``review_answer``; the
    stored review then shows the answer in moderation. Returns Avito's ``{"id", "createdAt"}``."""
    plan = plan_review_answer(store, review_id, text)
    created: dict = {}

    async def send() -> None:
        created.update(await client.answer_review(plan.review_id, plan.text) or {})

    audit_id = await _send_audited(store, "review_answer", plan.review_id, {"text": plan.text}, send,
                                   where="the review")
    answered_at = created.get("createdAt") or int(utc_now(clock).replace(tzinfo=dt.UTC).timestamp())
    store.record_review_answer(plan.review_id, None, {
        "answer_id": created.get("id"), "answer_text": plan.text, "answer_status": "moderation",
        "answer_created_at": pd.Timestamp(int(answered_at), unit="s")}, utc_now(clock))
    store.audit_finish(audit_id, "ok", json.dumps({"answer_id": created.get("id")}))
    return created


async def delete_review_answer(client: AvitoApiClient, store: Store, answer_id, *,
                               clock: Clock | None = None) -> None:
    """Remove an answer once, audited as ``review_answer_delete``; the stored review loses it."""
    plan = plan_delete_review_answer(store, answer_id)
    audit_id = await _send_audited(store, "review_answer_delete", plan.answer_id, {},
                                   lambda: client.delete_review_answer(plan.answer_id), where="the review")
    if plan.review_id is not None:
        store.record_review_answer(plan.review_id, None, None, utc_now(clock))
    store.audit_finish(audit_id, "ok")
