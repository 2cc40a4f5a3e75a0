"""AvitoAuth: the token is fetched once, cached privately, refreshed before expiry, never shown."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import stat

import pytest

from avito_kit.auth import AvitoAuth
from avito_kit.errors import AvitoAuthError, MissingCredentialsError

from .fakes import CLIENT_ID, CLIENT_SECRET, USER_ID, FakeAvito, FakeClock


def make_auth(fake: FakeAvito, clock: FakeClock | None = None, **options) -> AvitoAuth:
    clock = clock or FakeClock()
    return AvitoAuth(CLIENT_ID, CLIENT_SECRET, base_url="https://api.test", transport=fake.transport(),
                     clock=clock, sleep=clock.sleep, **options)


async def test_token_is_cached_in_a_private_file_and_reused_by_a_new_instance(isolated_workdir):
    fake = FakeAvito()
    token = await make_auth(fake).get_access_token()
    cache = isolated_workdir / ".avito_token_cache.json"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert set(json.loads(cache.read_text())) >= {"access_token", "token_expires_at", "user_id"}

    again = await make_auth(fake).get_access_token()
    assert again == token
    assert fake.count("POST", "/token") == 1


async def test_cache_path_from_environment(isolated_workdir, monkeypatch):
    target = isolated_workdir / "private" / "token.json"
    monkeypatch.setenv("AVITO_KIT_TOKEN_CACHE", str(target))
    await make_auth(FakeAvito()).get_access_token()
    assert target.exists() and stat.S_IMODE(target.stat().st_mode) == 0o600


async def test_token_is_renewed_shortly_before_it_expires():
    fake, clock = FakeAvito(token_ttl=3600), FakeClock()
    auth = make_auth(fake, clock)
    first = await auth.get_access_token()
    clock.now += 3600 - 600  # ten minutes left: still good
    assert await auth.get_access_token() == first
    clock.now += 400  # under the five-minute margin: renewed
    assert await auth.get_access_token() != first
    assert fake.count("POST", "/token") == 2


async def test_ten_concurrent_callers_cause_one_token_request():
    fake = FakeAvito()
    auth = make_auth(fake)
    tokens = await asyncio.gather(*(auth.get_access_token() for _ in range(10)))
    assert len(set(tokens)) == 1
    assert fake.count("POST", "/token") == 1


async def test_user_id_is_read_once_and_cached_with_the_token(isolated_workdir):
    fake = FakeAvito()
    auth = make_auth(fake)
    assert await auth.get_current_user_id() == USER_ID
    assert await make_auth(fake).get_current_user_id() == USER_ID
    assert fake.count("GET", "/core/v1/accounts/self") == 1
    assert json.loads((isolated_workdir / ".avito_token_cache.json").read_text())["user_id"] == str(USER_ID)


async def test_a_cache_of_another_account_or_api_is_not_reused():
    fake = FakeAvito()
    await make_auth(fake).get_access_token()
    other = AvitoAuth(CLIENT_ID, CLIENT_SECRET, base_url="https://sandbox.test", transport=fake.transport())
    await other.get_access_token()
    assert fake.count("POST", "/token") == 2


def test_missing_credentials_name_both_variables():
    with pytest.raises(MissingCredentialsError, match="AVITO_CLIENT_ID and AVITO_CLIENT_SECRET") as info:
        AvitoAuth()
    assert isinstance(info.value, ConnectionError)


async def test_credentials_and_base_url_come_from_dotenv(isolated_workdir):
    (isolated_workdir / ".env").write_text(
        f"AVITO_CLIENT_ID={CLIENT_ID}\nexport AVITO_CLIENT_SECRET='{CLIENT_SECRET}'\nAVITO_BASE_URL=https://api.test/\n"
    )
    fake = FakeAvito()
    auth = AvitoAuth(transport=fake.transport())
    assert auth.base_url == "https://api.test"
    assert await auth.get_access_token()


async def test_wrong_secret_is_an_auth_error_that_shows_no_secret():
    fake = FakeAvito()
    auth = AvitoAuth(CLIENT_ID, "wrong-secret-123", base_url="https://api.test", transport=fake.transport())
    with pytest.raises(AvitoAuthError) as info:
        await auth.get_access_token()
    assert isinstance(info.value, ConnectionError)
    assert "wrong-secret-123" not in str(info.value)
    assert "AVITO_CLIENT_SECRET" in str(info.value)


async def test_repr_shows_neither_secret_nor_token():
    fake = FakeAvito()
    auth = make_auth(fake)
    token = await auth.get_access_token()
    text = repr(auth) + str(auth)
    assert CLIENT_SECRET not in text and token not in text and CLIENT_ID not in text


async def test_cache_has_the_seeds_keys_and_forms(isolated_workdir):
    fake, clock = FakeAvito(token_ttl=3600), FakeClock()
    auth = make_auth(fake, clock)
    await auth.get_current_user_id()
    cached = json.loads((isolated_workdir / ".avito_token_cache.json").read_text())
    assert cached["access_token"] == fake.tokens_issued[0]
    assert cached["user_id"] == str(USER_ID)
    expires = dt.datetime.fromisoformat(cached["token_expires_at"])  # "2024-01-01T12:00:00", local time
    assert len(cached["token_expires_at"]) == 19 and expires.tzinfo is None
    assert expires.timestamp() == pytest.approx(clock.now + 3600, abs=1)


async def test_a_cache_in_the_earlier_epoch_form_is_still_read(isolated_workdir):
    fake, clock = FakeAvito(), FakeClock()
    await make_auth(fake, clock).get_current_user_id()
    cache = isolated_workdir / ".avito_token_cache.json"
    cached = json.loads(cache.read_text())
    cache.write_text(json.dumps({**cached, "token_expires_at": clock.now + 7200, "user_id": USER_ID}))
    auth = make_auth(fake, clock)
    assert await auth.get_access_token() == fake.tokens_issued[0]
    assert await auth.get_current_user_id() == USER_ID
    assert fake.count("POST", "/token") == 1
