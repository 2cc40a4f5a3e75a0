"""Fetching a linked calendar: an http(s) URL through httpx, or a local file. The only I/O of iCal feeds.

A feed is read whole or refused: a timeout, a body past ``MAX_FEED_BYTES`` (streamed and stopped there, so a 50 MB
answer never lands in memory) or a non-2xx answer raise ``FeedError`` with one line naming the link. ETag and
Last-Modified of the previous answer are sent back (If-None-Match / If-Modified-Since): a 304 returns ``body=None``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = ["FEED_TIMEOUT", "MAX_FEED_BYTES", "FeedError", "Fetched", "fetch_feed", "is_url"]

MAX_FEED_BYTES = 5 * 1024 * 1024  # a busy listing's year is a few kilobytes; 5 MB leaves room for years of history
FEED_TIMEOUT = 20.0


class FeedError(Exception):
    """A linked calendar could not be read (one line, for the host; the link's URL may carry a token: never logged
    by this module beyond its host name)."""


@dataclass(frozen=True)
class Fetched:
    body: bytes | None  # None: not modified since the last fetch
    etag: str | None = None
    last_modified: str | None = None


def is_url(source: str) -> bool:
    return source.lower().startswith(("http://", "https://"))


async def fetch_feed(source: str, *, etag: str | None = None, last_modified: str | None = None,
                     transport: httpx.AsyncBaseTransport | None = None, max_bytes: int = MAX_FEED_BYTES,
                     read_timeout: float = FEED_TIMEOUT) -> Fetched:
    """Read a feed. Example: ``await fetch_feed("https://www.airbnb.ru/calendar/ical/1.ics?s=...")``"""
    if not is_url(source):
        return _read_file(source, max_bytes)  # a few kilobytes on a local disk: not worth a thread
    headers = {"Accept": "text/calendar, */*;q=0.5", "User-Agent": "avito_kit calendar pull"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    where = httpx.URL(source).host
    try:
        async with httpx.AsyncClient(transport=transport, timeout=read_timeout, follow_redirects=True) as http:
            async with http.stream("GET", source, headers=headers) as answer:
                if answer.status_code == 304:
                    return Fetched(None, etag, last_modified)
                if answer.status_code >= 400:
                    raise FeedError(f"{where} answered {answer.status_code}")
                declared = answer.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise FeedError(f"{where} sent {int(declared) // 1024} KB, more than the {max_bytes // 1024} KB "
                                    "a calendar may take")
                chunks, size = [], 0
                async for chunk in answer.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise FeedError(f"{where} sent more than the {max_bytes // 1024} KB a calendar may take")
                    chunks.append(chunk)
                return Fetched(b"".join(chunks), answer.headers.get("ETag"), answer.headers.get("Last-Modified"))
    except httpx.TimeoutException:
        raise FeedError(f"{where} did not answer within {read_timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise FeedError(f"{where} unreachable: {type(exc).__name__}") from None


def _read_file(source: str, max_bytes: int) -> Fetched:
    path = Path(source).expanduser()
    try:
        if path.stat().st_size > max_bytes:
            raise FeedError(f"{path} is larger than the {max_bytes // 1024} KB a calendar may take")
        return Fetched(path.read_bytes())
    except OSError as exc:
        raise FeedError(f"{path}: {exc.strerror or type(exc).__name__}") from None
