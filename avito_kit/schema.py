"""The store's schema: the tables, their ordered migrations, and the columns each upsert accepts.

Tables (every row carries the Avito account ``user_id``, so several accounts share one store)::

    items            listings, one row per item_id (BIGINT: ids exceed 2^31)
    bookings         one row per booking_id (UBIGINT: ids exceed 2^53), never deleted; cancelled and
                     vanished bookings stay, with first_seen_at / last_seen_at / status_changed_at / vanished_at
    booking_events   the history: 'first_seen' | 'changed' (status, dates or price; previous_* values) |
                     'vanished' (no longer returned by Avito) | 'reappeared' (returned again after vanishing)
    chats            messenger chats, one row per chat_id; u2u chats have no item_id
    messages         one row per message_id; kept as first seen (only is_read / read_at follow Avito)
    item_stats       daily views / contacts / favourites, primary key (item_id, date)
    calendar_blocks  the host's manual blocks per listing, [date_start, date_end) as pushed to Avito
    audit_log        every write sent to Avito: 'pending' before sending, then its outcome
    prices           every postRealtyPrices push, one row per period [date_from, date_to] (date_to INCLUSIVE, as
                     Avito takes it), never updated: a night's price is that of the latest push covering it
    base_params      every postBaseParams push (only the fields sent; NULL = not sent), never updated
    sync_runs        one row per ``avito-kit sync`` run: running | ok | failed, counts JSON, error
    sync_cursors     (user_id, key) -> JSON value, for incremental sync
    booking_coverage the nights of each listing whose bookings a sync has read, each range with the time it
                     was first read (disjoint per listing): what tells a booking made under watch from one
                     already there when avito_kit first looked (metrics' left-censoring rule)
    reviews          one row per review as Avito last showed it (score, text, the answer and its moderation status),
                     with first_seen_at / last_seen_at / updated_at (when it last changed)
    review_events    the reviews' history: 'first_seen' | 'changed' (score, text or answer; previous_* values)
    rating_snapshots the account's rating (score, reviews counted) each time a sync sees it change: Avito gives
                     no history
    calendar_links   iCal feeds of other platforms per listing (name unique per listing), with the ETag /
                     Last-Modified of the last answer and the last error
    external_closures the nights each link's feed says are taken, replaced whole at each successful read
    calendar_pushes  per listing, the last block push (and availability push, if any) Avito accepted
    schema_version   the migrations applied

Only ``avito_kit.store`` uses this module: it runs :func:`migrate` when it opens a file.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from .dates import utc_now

__all__ = ["BLOCKS", "BOOKINGS", "CHATS", "ITEMS", "ITEM_STATS", "MESSAGES", "MIGRATIONS", "REVIEWS", "SCHEMA_VERSION",
           "TABLES",
           "Batch", "current_version", "migrate"]


# Ordered migrations. DDL is idempotent (IF NOT EXISTS) so a migration interrupted before its version row
# was written can simply run again; each migration and its version row share one transaction.
MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE IF NOT EXISTS items (
            item_id BIGINT PRIMARY KEY,
            user_id BIGINT NOT NULL,
            title VARCHAR,
            address VARCHAR,
            status VARCHAR,
            price DECIMAL(18, 2),
            url VARCHAR,
            category_id BIGINT,
            category_name VARCHAR,
            first_seen_at TIMESTAMP,
            updated_at TIMESTAMP
        );
        CREATE TABLE IF NOT EXISTS bookings (
            booking_id UBIGINT PRIMARY KEY,
            user_id BIGINT NOT NULL,
            item_id BIGINT NOT NULL,
            check_in DATE NOT NULL,
            check_out DATE NOT NULL,
            nights INTEGER,
            status VARCHAR NOT NULL,
            base_price DECIMAL(18, 2),
            guest_count INTEGER,
            guest_name VARCHAR,
            guest_email VARCHAR,
            guest_phone VARCHAR,
            safe_deposit_total DECIMAL(18, 2),
            safe_deposit_owner_amount DECIMAL(18, 2),
            safe_deposit_tax DECIMAL(18, 2),
            first_seen_at TIMESTAMP NOT NULL,
            last_seen_at TIMESTAMP NOT NULL,
            status_changed_at TIMESTAMP NOT NULL,
            vanished_at TIMESTAMP
        );
        CREATE TABLE IF NOT EXISTS booking_events (
            booking_id UBIGINT NOT NULL,
            item_id BIGINT NOT NULL,
            user_id BIGINT NOT NULL,
            observed_at TIMESTAMP NOT NULL,
            event VARCHAR NOT NULL,
            status VARCHAR,
            check_in DATE,
            check_out DATE,
            nights INTEGER,
            base_price DECIMAL(18, 2),
            previous_status VARCHAR,
            previous_check_in DATE,
            previous_check_out DATE,
            previous_base_price DECIMAL(18, 2)
        );
        CREATE TABLE IF NOT EXISTS chats (
            chat_id VARCHAR PRIMARY KEY,
            user_id BIGINT NOT NULL,
            item_id BIGINT,
            chat_type VARCHAR,
            created TIMESTAMP,
            updated TIMESTAMP,
            other_user_id BIGINT,
            other_user_name VARCHAR,
            last_message_text VARCHAR,
            last_message_at TIMESTAMP,
            last_message_direction VARCHAR,
            unread BOOLEAN,
            synced_at TIMESTAMP
        );
        CREATE TABLE IF NOT EXISTS messages (
            message_id VARCHAR PRIMARY KEY,
            chat_id VARCHAR NOT NULL,
            user_id BIGINT NOT NULL,
            author_id BIGINT,
            direction VARCHAR CHECK (direction IN ('in', 'out')),
            type VARCHAR,
            text VARCHAR,
            created TIMESTAMP,
            is_read BOOLEAN,
            read_at TIMESTAMP,
            content JSON,
            first_seen_at TIMESTAMP
        );
        CREATE TABLE IF NOT EXISTS item_stats (
            item_id BIGINT NOT NULL,
            date DATE NOT NULL,
            user_id BIGINT NOT NULL,
            uniq_views INTEGER,
            uniq_contacts INTEGER,
            uniq_favorites INTEGER,
            updated_at TIMESTAMP,
            PRIMARY KEY (item_id, date)
        );
        """,
    ),
    (
        2,
        """
        CREATE TABLE IF NOT EXISTS calendar_blocks (
            user_id BIGINT NOT NULL,
            item_id BIGINT NOT NULL,
            date_start DATE NOT NULL,
            date_end DATE NOT NULL,
            comment VARCHAR,
            updated_at TIMESTAMP NOT NULL,
            PRIMARY KEY (item_id, date_start),
            CHECK (date_end > date_start)
        );
        CREATE SEQUENCE IF NOT EXISTS audit_id_seq;
        CREATE TABLE IF NOT EXISTS audit_log (
            audit_id BIGINT PRIMARY KEY DEFAULT nextval('audit_id_seq'),
            logged_at TIMESTAMP NOT NULL,
            action VARCHAR NOT NULL,
            target VARCHAR,
            payload JSON,
            outcome VARCHAR NOT NULL,
            detail VARCHAR,
            finished_at TIMESTAMP
        );
        CREATE SEQUENCE IF NOT EXISTS sync_run_id_seq;
        CREATE TABLE IF NOT EXISTS sync_runs (
            run_id BIGINT PRIMARY KEY DEFAULT nextval('sync_run_id_seq'),
            started_at TIMESTAMP NOT NULL,
            finished_at TIMESTAMP,
            status VARCHAR NOT NULL CHECK (status IN ('running', 'ok', 'failed')),
            counts JSON,
            error VARCHAR
        );
        CREATE TABLE IF NOT EXISTS sync_cursors (
            user_id BIGINT NOT NULL,
            key VARCHAR NOT NULL,
            value JSON,
            updated_at TIMESTAMP NOT NULL,
            PRIMARY KEY (user_id, key)
        );
        """,
    ),
    (
        3,
        """
        CREATE TABLE IF NOT EXISTS booking_coverage (
            user_id BIGINT NOT NULL,
            item_id BIGINT NOT NULL,
            cover_from DATE NOT NULL,
            cover_to DATE NOT NULL,
            observed_at TIMESTAMP NOT NULL,
            PRIMARY KEY (item_id, cover_from),
            CHECK (cover_to >= cover_from)
        );
        """,
    ),
    (
        4,
        # Avito never reads prices or base parameters back (REAL-WORLD.md): these pushes are the only record.
        """
        CREATE SEQUENCE IF NOT EXISTS price_row_seq;
        CREATE TABLE IF NOT EXISTS prices (
            row_id BIGINT PRIMARY KEY DEFAULT nextval('price_row_seq'),
            user_id BIGINT,
            item_id BIGINT NOT NULL,
            date_from DATE NOT NULL,
            date_to DATE NOT NULL,
            night_price INTEGER NOT NULL CHECK (night_price > 0),
            minimal_duration INTEGER,
            extra_guest_fee INTEGER,
            pushed_at TIMESTAMP NOT NULL,
            audit_id BIGINT,
            CHECK (date_to >= date_from)
        );
        CREATE SEQUENCE IF NOT EXISTS base_params_row_seq;
        CREATE TABLE IF NOT EXISTS base_params (
            row_id BIGINT PRIMARY KEY DEFAULT nextval('base_params_row_seq'),
            user_id BIGINT,
            item_id BIGINT NOT NULL,
            night_price INTEGER,
            minimal_duration INTEGER,
            instant_active BOOLEAN,
            instant_min_days INTEGER,
            instant_max_days INTEGER,
            discounts JSON,
            refund_days INTEGER,
            extra_guest_fee INTEGER,
            extra_guest_threshold INTEGER,
            pushed_at TIMESTAMP NOT NULL,
            audit_id BIGINT
        );
        """,
    ),
    (
        5,
        # Reviews as Avito last showed them, their history (like booking_events) and the rating at each sync:
        # a rating history Avito does not give.
        """
        CREATE TABLE IF NOT EXISTS reviews (
            review_id BIGINT PRIMARY KEY,
            user_id BIGINT NOT NULL,
            item_id BIGINT,
            item_title VARCHAR,
            score INTEGER,
            stage VARCHAR,
            text VARCHAR,
            used_in_score BOOLEAN,
            can_answer BOOLEAN,
            sender_name VARCHAR,
            image_count INTEGER,
            images JSON,
            created_at TIMESTAMP,
            answer_id BIGINT,
            answer_text VARCHAR,
            answer_status VARCHAR,
            answer_created_at TIMESTAMP,
            answer_reject_reasons JSON,
            first_seen_at TIMESTAMP NOT NULL,
            last_seen_at TIMESTAMP NOT NULL,
            updated_at TIMESTAMP NOT NULL
        );
        CREATE TABLE IF NOT EXISTS review_events (
            review_id BIGINT NOT NULL,
            user_id BIGINT NOT NULL,
            observed_at TIMESTAMP NOT NULL,
            event VARCHAR NOT NULL,
            score INTEGER,
            text VARCHAR,
            answer_id BIGINT,
            answer_status VARCHAR,
            answer_text VARCHAR,
            previous_score INTEGER,
            previous_text VARCHAR,
            previous_answer_id BIGINT,
            previous_answer_status VARCHAR,
            previous_answer_text VARCHAR
        );
        CREATE TABLE IF NOT EXISTS rating_snapshots (
            user_id BIGINT NOT NULL,
            observed_at TIMESTAMP NOT NULL,
            is_enabled BOOLEAN,
            score DOUBLE,
            reviews_count INTEGER,
            reviews_with_score_count INTEGER,
            PRIMARY KEY (user_id, observed_at)
        );
        """,
    ),
    (
        6,
        # Calendars of other platforms (iCal links) and what avito_kit last pushed: Avito keeps no calendar we can
        # read back, so a preview compares with the last push and a pull that changes nothing sends nothing.
        """
        CREATE TABLE IF NOT EXISTS calendar_links (
            item_id BIGINT NOT NULL,
            name VARCHAR NOT NULL,
            source VARCHAR NOT NULL,
            etag VARCHAR,
            last_modified VARCHAR,
            pulled_at TIMESTAMP,
            error VARCHAR,
            added_at TIMESTAMP NOT NULL,
            PRIMARY KEY (item_id, name)
        );
        CREATE TABLE IF NOT EXISTS external_closures (
            item_id BIGINT NOT NULL,
            source VARCHAR NOT NULL,
            date_start DATE NOT NULL,
            date_end DATE NOT NULL,
            summary VARCHAR,
            read_at TIMESTAMP NOT NULL,
            PRIMARY KEY (item_id, source, date_start),
            CHECK (date_end > date_start)
        );
        CREATE TABLE IF NOT EXISTS calendar_pushes (
            item_id BIGINT PRIMARY KEY,
            bookings JSON NOT NULL,
            availability JSON,
            pushed_at TIMESTAMP NOT NULL,
            audit_id BIGINT
        );
        """,
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]

TABLES = (
    "items",
    "bookings",
    "booking_events",
    "chats",
    "messages",
    "item_stats",
    "calendar_blocks",
    "prices",
    "base_params",
    "audit_log",
    "sync_runs",
    "sync_cursors",
    "booking_coverage",
    "reviews",
    "review_events",
    "rating_snapshots",
    "calendar_links",
    "external_closures",
    "calendar_pushes",
)


@dataclass(frozen=True)
class Batch:
    """What an upsert accepts: input column -> SQL type, the key, and the columns that must be present."""

    key: tuple[str, ...]
    columns: dict[str, str]
    required: tuple[str, ...]


ITEMS = Batch(
    key=("item_id",),
    columns={
        "item_id": "BIGINT",
        "title": "VARCHAR",
        "address": "VARCHAR",
        "status": "VARCHAR",
        "price": "DECIMAL(18, 2)",
        "url": "VARCHAR",
        "category_id": "BIGINT",
        "category_name": "VARCHAR",
    },
    required=("item_id",),
)
BOOKINGS = Batch(
    key=("booking_id",),
    columns={
        "booking_id": "UBIGINT",
        "item_id": "BIGINT",
        "check_in": "DATE",
        "check_out": "DATE",
        "nights": "INTEGER",
        "status": "VARCHAR",
        "base_price": "DECIMAL(18, 2)",
        "guest_count": "INTEGER",
        "guest_name": "VARCHAR",
        "guest_email": "VARCHAR",
        "guest_phone": "VARCHAR",
        "safe_deposit_total": "DECIMAL(18, 2)",
        "safe_deposit_owner_amount": "DECIMAL(18, 2)",
        "safe_deposit_tax": "DECIMAL(18, 2)",
    },
    required=("booking_id", "item_id", "check_in", "check_out", "status", "base_price"),
)
CHATS = Batch(
    key=("chat_id",),
    columns={
        "chat_id": "VARCHAR",
        "item_id": "BIGINT",
        "chat_type": "VARCHAR",
        "created": "TIMESTAMP",
        "updated": "TIMESTAMP",
        "other_user_id": "BIGINT",
        "other_user_name": "VARCHAR",
        "last_message_text": "VARCHAR",
        "last_message_at": "TIMESTAMP",
        "last_message_direction": "VARCHAR",
        "unread": "BOOLEAN",
    },
    required=("chat_id",),
)
MESSAGES = Batch(
    key=("message_id",),
    columns={
        "message_id": "VARCHAR",
        "chat_id": "VARCHAR",
        "author_id": "BIGINT",
        "direction": "VARCHAR",
        "type": "VARCHAR",
        "text": "VARCHAR",
        "created": "TIMESTAMP",
        "is_read": "BOOLEAN",
        "read_at": "TIMESTAMP",
        "content": "JSON",
    },
    required=("message_id", "chat_id"),
)
ITEM_STATS = Batch(
    key=("item_id", "date"),
    columns={
        "item_id": "BIGINT",
        "date": "DATE",
        "uniq_views": "INTEGER",
        "uniq_contacts": "INTEGER",
        "uniq_favorites": "INTEGER",
    },
    required=("item_id", "date"),
)
REVIEWS = Batch(
    key=("review_id",),
    columns={
        "review_id": "BIGINT",
        "item_id": "BIGINT",
        "item_title": "VARCHAR",
        "score": "INTEGER",
        "stage": "VARCHAR",
        "text": "VARCHAR",
        "used_in_score": "BOOLEAN",
        "can_answer": "BOOLEAN",
        "sender_name": "VARCHAR",
        "image_count": "INTEGER",
        "images": "JSON",
        "created_at": "TIMESTAMP",
        "answer_id": "BIGINT",
        "answer_text": "VARCHAR",
        "answer_status": "VARCHAR",
        "answer_created_at": "TIMESTAMP",
        "answer_reject_reasons": "JSON",
    },
    required=("review_id", "score", "created_at"),
)
BLOCKS = Batch(
    key=("date_start",),
    columns={"date_start": "DATE", "date_end": "DATE", "comment": "VARCHAR"},
    required=("date_start", "date_end"),
)


def migrate(con: duckdb.DuckDBPyConnection, target: int = SCHEMA_VERSION) -> int:
    """Apply the migrations up to ``target`` on an open connection; returns the version reached."""
    con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMP)")
    current = current_version(con)
    if current > SCHEMA_VERSION:
        raise RuntimeError(f"database schema v{current} is newer than this avito_kit (v{SCHEMA_VERSION})")
    for version, ddl in MIGRATIONS:
        if current < version <= target:
            con.begin()
            try:
                con.execute(ddl)
                con.execute("INSERT INTO schema_version VALUES (?, ?)", [version, utc_now()])
            except BaseException:
                con.rollback()
                raise
            con.commit()
            current = version
    return current


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    """The last migration applied to the file (0 for a new one)."""
    (version,) = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(version)
