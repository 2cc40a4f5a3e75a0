"""No secret leaves the suite: the client secrets and every token issued during the session are absent from the
database files, the cassettes and every test's captured output (stdout, stderr, log).

``conftest.py`` keeps the registry (tokens appended by sandboxes, in any process, to the file named by
``AVITO_KIT_SANDBOX_TOKEN_LOG``; tokens of the strict fake; captured output) and calls
``secrets_scanner.scan_session`` when the session ends: a find fails the session. The tests here prove the scanner
and the registry work.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from avito_kit.sandbox import SANDBOX_CLIENT_SECRET, Sandbox
from avito_kit.sandbox.app import TOKEN_LOG_ENV

from . import fakes
from .helpers import issue_token
from .secrets_scanner import CLIENT_SECRETS, find_secrets, known_secrets, scan_session

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


def registry() -> Path:
    import os

    return Path(os.environ[TOKEN_LOG_ENV])


@pytest.mark.slow
def test_the_registry_records_tokens_issued_here_and_in_child_processes():
    token = issue_token(Sandbox(seed=1, n_items=1, n_chats=1))
    assert token in known_secrets(registry())

    child = textwrap.dedent("""
        from avito_kit.sandbox import Sandbox
        from tests.helpers import issue_token
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
