"""Every test runs in its own working directory with no Avito settings from the machine: no .env, no
credentials, no token cache or database of the developer's leak into a test, and none is left behind."""

from __future__ import annotations

import pytest

AVITO_ENV = ("AVITO_CLIENT_ID", "AVITO_CLIENT_SECRET", "AVITO_BASE_URL", "AVITO_KIT_TOKEN_CACHE", "AVITO_KIT_DB")


@pytest.fixture(autouse=True)
def isolated_workdir(tmp_path, monkeypatch):
    for name in AVITO_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path
