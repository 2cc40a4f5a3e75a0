"""No secret leaves the suite: the client secrets and every token issued during the session are absent from the
database files, the cassettes and every test's captured output (stdout, stderr, log).

``conftest.py`` keeps the registry (tokens appended by sandboxes, in any process, to the file named by
``AVITO_KIT_SANDBOX_TOKEN_LOG``; tokens of the strict fake; captured output) and calls :func:`scan_session` when
the session ends: a find fails the session. The tests here prove the scanner and the registry work.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb

from avito_kit.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, Sandbox
from avito_kit.sandbox.app import TOKEN_LOG_ENV

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


# -- the scanner finds what was planted, and nothing else --------------------------------------------------------


PLANTED = "Zq3vN0bWd8yKc2uR7hTgXe5LmP1sAoJ4iFz9VnEwQkY"  # token_urlsafe(32)-shaped, never issued


def test_find_secrets_sees_a_token_anywhere_in_text():
    assert find_secrets(f"Authorization: Bearer {PLANTED}\n", [PLANTED]) == {PLANTED}
    assert find_secrets(f'{{"t":"x-{PLANTED}_y"}}', [PLANTED]) == {PLANTED}  # inside a longer run
    assert find_secrets(f"{PLANTED[:-1]} and {PLANTED[1:]}", [PLANTED]) == set()
    assert find_secrets("client_secret=sandbox-client-secret&x=1", CLIENT_SECRETS) == {SANDBOX_CLIENT_SECRET}
    assert find_secrets("пароль: s3cr3t!", ["s3cr3t!"]) == {"s3cr3t!"}  # not URL-safe: searched as is


def test_scan_session_finds_planted_secrets_in_a_database_a_cassette_and_output(tmp_path):
    basetemp, root = tmp_path / "basetemp", tmp_path / "repo"
    (basetemp / "test_x0").mkdir(parents=True)
    (root / "tests" / "cassettes").mkdir(parents=True)
    (root / "data").mkdir()
    log = tmp_path / "tokens.txt"
    log.write_text(f"{PLANTED}\n", encoding="utf-8")
    secrets = {"planted-client-secret-value": "the planted client secret"}

    con = duckdb.connect(str(basetemp / "test_x0" / "a.duckdb"))
    con.execute("CREATE TABLE audit_log (payload JSON, detail VARCHAR)")
    con.execute("INSERT INTO audit_log VALUES (?, 'ok')", [f'{{"headers": {{"Authorization": "Bearer {PLANTED}"}}}}'])
    con.close()
    con = duckdb.connect(str(root / "data" / "avito.duckdb"))
    con.execute("CREATE TABLE messages (text VARCHAR)")
    con.execute("INSERT INTO messages VALUES ('Здравствуйте!')")
    con.close()
    (root / "tests" / "cassettes" / "x.yaml").write_text("body: client_secret=planted-client-secret-value\n")
    (basetemp / "test_x0" / "broken.duckdb").write_bytes(b"not a database " + PLANTED.encode())

    offenders = scan_session(basetemp, root, log, ["nothing here", f"token {PLANTED} printed"], secrets)
    assert len(offenders) == 4, offenders
    assert any("a.duckdb: a token issued during the session (Zq3v…)" in o for o in offenders)
    assert any("broken.duckdb: a token" in o for o in offenders)
    assert any("x.yaml: the planted client secret" in o for o in offenders)
    assert "captured output #1: a token issued during the session (Zq3v…)" in offenders
    assert all(PLANTED not in o for o in offenders)  # the report does not leak what it found

    log.write_text("", encoding="utf-8")
    assert scan_session(basetemp, root, log, [f"token {PLANTED}"], {}) == []


# -- the registry sees every token issued, in this process and in children ----------------------------------


def issue_token(sandbox: Sandbox) -> str:
    form = f"grant_type=client_credentials&client_id={SANDBOX_CLIENT_ID}&client_secret={SANDBOX_CLIENT_SECRET}"
    answer = sandbox.handle("POST", "/token", "", {"Content-Type": "application/x-www-form-urlencoded"},
                            form.encode())
    return answer.json()["access_token"]


def registry() -> Path:
    import os

    return Path(os.environ[TOKEN_LOG_ENV])


def test_the_registry_records_tokens_issued_here_and_in_child_processes():
    token = issue_token(Sandbox(seed=1, n_items=1, n_chats=1))
    assert token in known_secrets(registry())

    child = textwrap.dedent("""
        from avito_kit.sandbox import Sandbox
        from tests.test_secrets import issue_token
        token = issue_token(Sandbox(seed=2, n_items=1, n_chats=1))
        print(len(token))
    """)
    done = subprocess.run([sys.executable, "-c", child], cwd=Path(__file__).parent.parent, capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == "43"
    tokens = registry().read_text(encoding="utf-8").split()
    assert tokens[-1] != token and tokens.index(token) < len(tokens) - 1  # the child's token came after ours


def test_the_strict_fakes_tokens_are_registered_too():
    import httpx

    fake = fakes.FakeAvito()
    with httpx.Client(transport=httpx.MockTransport(fake.handle), base_url="https://api.test") as http:
        http.post("/token", data={"grant_type": "client_credentials", "client_id": fakes.CLIENT_ID,
                                  "client_secret": fakes.CLIENT_SECRET})
    assert fake.tokens_issued and fake.tokens_issued[-1] in known_secrets(registry())
