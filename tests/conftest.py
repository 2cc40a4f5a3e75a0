"""Every test runs in its own working directory with no Avito settings from the machine: no .env, no
credentials, no token cache or database of the developer's leak into a test, and none is left behind.

And no secret leaks out of the suite: every token a sandbox issues during the session (in this process or a
child, through ``AVITO_KIT_SANDBOX_TOKEN_LOG``) and every test's captured output are kept, and at the end of the
session the databases, cassettes and outputs are searched for them and for the client secrets
(``tests/secrets_scanner.py``); a find fails the session.

Tiers and shared helpers: see ``tests/README.md`` (``make test-fast`` leaves out ``slow``, ``notebook`` and
``browser`` tests; ``make test`` runs them all).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from avito_kit.sandbox.app import TOKEN_LOG_ENV

from .fakes import FakeAvito

AVITO_ENV = ("AVITO_CLIENT_ID", "AVITO_CLIENT_SECRET", "AVITO_BASE_URL", "AVITO_KIT_TOKEN_CACHE", "AVITO_KIT_DB")

OUTPUTS = pytest.StashKey[list[str]]()  # captured stdout, stderr and log text of every test
TOKEN_LOG = pytest.StashKey[Path]()  # where sandboxes append the tokens they issue
BASETEMP = pytest.StashKey[Path]()  # the session's tmp_path base folder


@pytest.fixture(autouse=True)
def isolated_workdir(tmp_path, monkeypatch):
    for name in AVITO_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- the secrets registry -------------------------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    folder = Path(tempfile.mkdtemp(prefix="avito_kit_tokens_"))  # outside basetemp: the log is not scanned
    config.stash[TOKEN_LOG] = folder / "issued_tokens.txt"
    config.stash[OUTPUTS] = []
    os.environ[TOKEN_LOG_ENV] = str(config.stash[TOKEN_LOG])  # inherited by every child process
    _record_consumed_output(config)
    _register_fake_tokens(config.stash[TOKEN_LOG])


def pytest_unconfigure(config: pytest.Config) -> None:
    if TOKEN_LOG in config.stash:
        os.environ.pop(TOKEN_LOG_ENV, None)
        shutil.rmtree(config.stash[TOKEN_LOG].parent, ignore_errors=True)
        pytest.CaptureFixture.readouterr = _READOUTERR
        FakeAvito.handle = _FAKE_HANDLE


_READOUTERR = pytest.CaptureFixture.readouterr
_FAKE_HANDLE = FakeAvito.handle


def _record_consumed_output(config: pytest.Config) -> None:
    """Output a test reads with ``capsys.readouterr()`` never reaches its report: keep it as it is read."""

    def recording_readouterr(self):
        result = _READOUTERR(self)
        for text in result:
            config.stash[OUTPUTS].append(text.decode(errors="replace") if isinstance(text, bytes) else text)
        return result

    pytest.CaptureFixture.readouterr = recording_readouterr


def _register_fake_tokens(token_log: Path) -> None:
    """The strict fake's tokens join the sandboxes' in the registry."""

    def handle_and_register(self, request):
        issued = len(self.tokens_issued)
        response = _FAKE_HANDLE(self, request)
        with token_log.open("a", encoding="utf-8") as log:
            log.writelines(f"{token}\n" for token in self.tokens_issued[issued:])
        return response

    FakeAvito.handle = handle_and_register


@pytest.fixture(autouse=True, scope="session")
def _remember_basetemp(request, tmp_path_factory):
    request.config.stash[BASETEMP] = tmp_path_factory.getbasetemp()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    report = yield
    if report.when == "teardown":  # its sections hold the captured output of all three phases
        item.config.stash[OUTPUTS].extend(text for _, text in report.sections)
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if TOKEN_LOG not in config.stash:
        return
    from tests.secrets_scanner import scan_session

    offenders = scan_session(config.stash.get(BASETEMP, None), config.rootpath, config.stash[TOKEN_LOG],
                             config.stash[OUTPUTS])
    if offenders:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        lines = ["SECRETS LEAKED: found where they must never be:", *(f"  {o}" for o in offenders)]
        for line in lines:
            if reporter is not None:
                reporter.write_line(line, red=True, bold=True)
            else:
                print(line)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
