"""The secrets scanner of the session (``conftest.py`` runs :func:`scan_session` when the session ends): the
client secrets and every token issued during the session searched for in the database files, the cassettes and
every test's captured output. ``tests/test_secrets.py`` proves it finds what was planted."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb

from avito_kit.sandbox import SANDBOX_CLIENT_SECRET

from . import fakes

CLIENT_SECRETS = {SANDBOX_CLIENT_SECRET: "the sandbox client secret", fakes.CLIENT_SECRET: "the test client secret"}
_URLSAFE = re.compile(r"[A-Za-z0-9_-]+")  # the alphabet of the secrets and of token_urlsafe()


# -- the scanner ----------------------------------------------------------------------------------------------


def find_secrets(text: str, secrets: Iterable[str]) -> set[str]:
    """The ``secrets`` that occur in ``text``.

    Thousands of tokens against megabytes of text: a token made of URL-safe characters can only sit inside a
    run of them, so only such runs, at least as long as the shortest secret, are looked into.
    """
    by_length: dict[int, set[str]] = {}
    found = set()
    for secret in secrets:
        if secret and _URLSAFE.fullmatch(secret):
            by_length.setdefault(len(secret), set()).add(secret)
        elif secret and secret in text:
            found.add(secret)
    if by_length:
        for run in re.finditer(rf"[A-Za-z0-9_-]{{{min(by_length)},}}", text):
            chunk = run.group()
            for length, group in by_length.items():
                found.update(chunk[i:i + length] for i in range(len(chunk) - length + 1)
                             if chunk[i:i + length] in group)
    return found


_NOT_TEXT = re.compile(r"^(BOOLEAN|TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|"
                       r"UHUGEINT|FLOAT|DOUBLE|DECIMAL.*|DATE|TIME.*|TIMESTAMP.*|INTERVAL|UUID)$")


def database_text(path: Path) -> str:
    """Every text value (VARCHAR, JSON, BLOB, nested) of every table; the raw bytes of a file DuckDB cannot
    open (a WAL, a broken file). One query per table: a suite leaves hundreds of files."""
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return path.read_bytes().decode("latin-1")
    try:
        tables: dict[tuple[str, str], list[str]] = {}
        for schema, table, column, data_type in con.execute(
                "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_catalog = current_database()").fetchall():
            if not _NOT_TEXT.match(data_type):
                tables.setdefault((schema, table), []).append(column)
        parts = []
        for (schema, table), columns in tables.items():
            aggregates = ", ".join(f'string_agg(CAST("{c}" AS VARCHAR), chr(10))' for c in columns)
            parts += [text or "" for text in con.execute(f'SELECT {aggregates} FROM "{schema}"."{table}"').fetchone()]
        return "\n".join(parts)
    finally:
        con.close()


def known_secrets(token_log: Path, client_secrets: Mapping[str, str] = CLIENT_SECRETS) -> dict[str, str]:
    """Secret -> what it is: the client secrets and every token in the registry."""
    tokens = token_log.read_text(encoding="utf-8").split() if token_log.exists() else []
    return {**{token: "a token issued during the session" for token in tokens}, **client_secrets}


def scan_session(basetemp: Path | None, rootpath: Path, token_log: Path, outputs: list[str],
                 client_secrets: Mapping[str, str] = CLIENT_SECRETS) -> list[str]:
    """Where a secret was found, one line each (the secret itself shortened): every ``*.duckdb`` (and its WAL)
    under ``basetemp`` and ``rootpath/data``, every file under ``rootpath/tests/cassettes``, every output."""
    secrets = known_secrets(token_log, client_secrets)
    places: list[tuple[str, Path | str]] = []
    for folder in [basetemp, rootpath / "data"]:
        if folder is not None and folder.is_dir():
            places += [(str(p), p) for p in sorted(folder.rglob("*.duckdb*")) if p.is_file()]
    cassettes = rootpath / "tests" / "cassettes"
    if cassettes.is_dir():
        places += [(str(p), p) for p in sorted(cassettes.rglob("*")) if p.is_file()]
    places += [(f"captured output #{n}", text) for n, text in enumerate(outputs)]

    def found(place: tuple[str, Path | str]) -> list[str]:
        label, source = place
        if isinstance(source, str):
            text = source
        elif ".duckdb" in source.name:
            text = database_text(source)
        else:
            text = source.read_text(encoding="utf-8", errors="replace")
        return [f"{label}: {secrets[secret]} ({secret[:4]}…)" for secret in sorted(find_secrets(text, secrets))]

    with ThreadPoolExecutor(max_workers=4) as pool:  # DuckDB reads without the GIL
        return [offender for offenders in pool.map(found, places) for offender in offenders]
