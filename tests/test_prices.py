"""Nightly prices and base parameters: the checks before sending, the exact bodies against the spec, what the
sandbox keeps, what the store keeps (every push; a night's price is the latest push covering it) and the audit."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pytest

from avito_kit import actions
from avito_kit.client import check_base_params, check_prices
from avito_kit.dates import avito_today
from avito_kit.errors import AvitoError, AvitoTransportError
from avito_kit.sandbox import Sandbox
from avito_kit.session import open_client
from avito_kit.store import Store

from .openapi_contract import default_spec_dir, load_contract
from .test_sync import clean_sync

T = avito_today()


def day(offset: int) -> dt.date:
    return T + dt.timedelta(days=offset)


def make_sandbox() -> tuple[Sandbox, int]:
    sandbox = Sandbox(seed=23, n_items=4, n_chats=4)
    return sandbox, next(item.id for item in sandbox.items if item.status == "active")


@pytest.fixture(scope="module")
def synced_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("synced") / "avito.duckdb"
    clean_sync(make_sandbox()[0], path)
    return path


@pytest.fixture
def world(synced_file, tmp_path):
    """(sandbox, store, item_id): a fresh sandbox and a copy of the store synced from an identical one."""
    for suffix in ("", ".wal"):
        source = synced_file.with_name(synced_file.name + suffix)
        if source.exists():
            shutil.copy(source, tmp_path / f"avito.duckdb{suffix}")
    sandbox, item_id = make_sandbox()
    return sandbox, Store(tmp_path / "avito.duckdb"), item_id


@pytest.fixture(scope="module")
def contract():
    if not default_spec_dir().is_dir():
        pytest.skip("no OpenAPI specs (set AVITO_OPENAPI_DIR)")
    return load_contract()


def sent(sandbox: Sandbox, operation: str) -> list:
    return [r for r in sandbox.requests if r.operation == operation]


async def set_prices(sandbox, store, item_id, start, end, price, **options) -> str:
    plan = actions.plan_prices(store, item_id, day(start), day(end), price, **options)
    async with open_client(sandbox=sandbox) as client:
        return await actions.apply_price_plan(client, store, plan)


# -- checks before anything is sent -------------------------------------------------------------------------


@pytest.mark.parametrize(("prices", "message"), [
    ([], "non-empty list"),
    ([{"date_from": day(1), "date_to": day(2), "night_price": 0}], "night_price must be a positive integer"),
    ([{"date_from": day(1), "date_to": day(2), "night_price": 4500.5}], "night_price must be a positive integer"),
    ([{"date_from": day(1), "date_to": day(2), "night_price": True}], "night_price must be a positive integer"),
    ([{"date_from": day(1), "date_to": day(2)}], "night_price is required"),
    ([{"date_from": day(-1), "date_to": day(2), "night_price": 10}], "is in the past"),
    ([{"date_from": day(3), "date_to": day(2), "night_price": 10}], "must be on or after date_from"),
    ([{"date_from": day(1), "date_to": day(2), "night_price": 10, "minimal_duration": 31}],
     "minimal_duration must be an integer 1..30"),
    ([{"date_from": day(1), "date_to": day(2), "night_price": 10, "extra_guest_fee": -5}],
     "extra_guest_fee must be an integer >= 0"),
    ([{"date_from": day(1), "date_to": day(2), "night_price": 10, "price": 5}], "unknown price field(s) price"),
    ([{"date_from": day(1), "date_to": day(3), "night_price": 10},
      {"date_from": day(3), "date_to": day(4), "night_price": 10}], "price periods overlap"),
])
def test_bad_prices_are_refused_with_one_line(prices, message):
    with pytest.raises(ValueError) as caught:
        check_prices(prices, T)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_inclusive_ranges_that_only_touch_are_fine():
    checked = check_prices([{"date_from": day(4), "date_to": day(5), "night_price": 10},
                            {"date_from": day(1), "date_to": day(3), "night_price": 20}], T)
    assert [p["date_from"] for p in checked] == [day(4).isoformat(), day(1).isoformat()]  # the order sent


@pytest.mark.parametrize(("params", "message"), [
    ({}, "non-empty"),
    ({"minimal_duration": 8}, "minimal_duration must be one of 1..7"),
    ({"instant": {"min_days": 2}}, "instant must be"),
    ({"instant": {"active": True, "max_days": 45}}, "instant max_days must be one of 30, 60, 90, 120, 150"),
    ({"discount": [{"threshold": 5, "percent": 10}]}, "discount threshold (nights) must be one of 3, 7, 30"),
    ({"discount": [{"threshold": 7, "percent": 100}]}, "discount percent must be an integer 1..99"),
    ({"discount": [{"threshold": 7, "percent": 5}, {"threshold": 7, "percent": 9}]}, "two discounts from 7"),
    ({"refund": {"days": 2}}, "refund days must be one of 0, 1, 3, 5, 7, 14"),
    ({"extra_guest_threshold": 9}, "extra_guest_threshold must be one of 1..8"),
    ({"fees": {}}, "unknown base parameter(s) fees"),
    ({"night_price": -1}, "night_price must be a positive integer"),
])
def test_bad_base_params_are_refused_with_one_line(params, message):
    with pytest.raises(ValueError) as caught:
        check_base_params(params)
    assert message in str(caught.value) and "\n" not in str(caught.value)


async def test_the_client_sends_nothing_for_bad_input(world):
    sandbox, _, item_id = world
    async with open_client(sandbox=sandbox) as client:
        with pytest.raises(ValueError):
            await client.update_item_prices(item_id, [{"date_from": day(-2), "date_to": day(1), "night_price": 1}])
        with pytest.raises(ValueError):
            await client.update_item_base_params(item_id, {"minimal_duration": 0})
    assert not sent(sandbox, "postRealtyPrices") and not sent(sandbox, "postBaseParams")


# -- the exact bodies, against the spec ----------------------------------------------------------------------


async def test_a_price_push_sends_avito_s_inclusive_date_to_and_matches_the_spec(world, contract):
    sandbox, store, item_id = world
    assert await set_prices(sandbox, store, item_id, 4, 6, 5500, minimal_duration=2, extra_guest_fee=700) == "ok"
    (request,) = sent(sandbox, "postRealtyPrices")
    assert request.body == {"prices": [{"date_from": day(4).isoformat(), "date_to": day(5).isoformat(),
                                        "night_price": 5500, "minimal_duration": 2, "extra_guest_fee": 700}]}
    contract.validate_request("POST", request.path, None, json_body=request.body)
    assert sandbox.prices[item_id][day(5)] == {"night_price": 5500, "minimal_duration": 2, "extra_guest_fee": 700}
    assert day(6) not in sandbox.prices[item_id]  # the night TO is left as it was


async def test_a_listing_push_sends_only_what_was_given_and_matches_the_spec(world, contract):
    sandbox, store, item_id = world
    plan = actions.plan_listing(store, item_id, night_price=3000, minimal_duration=2, instant_active=True,
                                instant_min_days=1, instant_max_days=60, discounts={7: 10, 3: 5}, refund_days=7,
                                extra_guest_fee=500, extra_guest_threshold=4)
    async with open_client(sandbox=sandbox) as client:
        assert await actions.apply_listing_plan(client, store, plan) == "ok"
    (request,) = sent(sandbox, "postBaseParams")
    assert request.path == f"/realty/v1/items/{item_id}/base"
    assert request.body == {"night_price": 3000, "minimal_duration": 2,
                            "instant": {"active": True, "min_days": 1, "max_days": 60},
                            "discount": [{"threshold": 3, "percent": 5}, {"threshold": 7, "percent": 10}],
                            "refund": {"days": 7}, "extra_guest_fee": 500, "extra_guest_threshold": 4}
    contract.validate_request("POST", request.path, None, json_body=request.body)
    assert sandbox.calendars.base_params[item_id] == request.body
    kept = store.current_base_params(item_id)
    assert (kept["minimal_duration"], kept["instant_active"], kept["discounts"]) == (2, True, request.body["discount"])
    audit = store.audit_log().iloc[-1]
    assert (audit.action, audit.target, audit.outcome) == ("listing_set", str(item_id), "ok")
    assert json.loads(audit.payload) == request.body


async def test_instant_days_alone_keep_the_instant_state_last_pushed(world):
    _, store, item_id = world
    with pytest.raises(ValueError, match="need --instant on or off"):
        actions.plan_listing(store, item_id, instant_min_days=2)
    store.record_base_params(1, item_id, {"instant": {"active": False}})
    plan = actions.plan_listing(store, item_id, instant_min_days=2)
    assert plan.params_payload == {"instant": {"active": False, "min_days": 2}}
    assert "мгновенное бронирование: выключено" in plan.describe()


# -- the sandbox's own checks -----------------------------------------------------------------------------


async def test_the_sandbox_refuses_what_the_spec_refuses(world, contract):
    sandbox, _, item_id = world
    async with open_client(sandbox=sandbox) as client:
        http, uid = client._client(), await client.user_id()
        token = await client.auth.get_access_token()
        headers = {"Authorization": f"Bearer {token}"}
        overlapping = await http.post(f"/realty/v1/accounts/{uid}/items/{item_id}/prices", headers=headers, json={
            "prices": [{"date_from": day(1).isoformat(), "date_to": day(3).isoformat(), "night_price": 100},
                       {"date_from": day(3).isoformat(), "date_to": day(4).isoformat(), "night_price": 100}]})
        bad_enum = await http.post(f"/realty/v1/items/{item_id}/base", headers=headers,
                                   json={"minimal_duration": 9})
        unknown = await http.post("/realty/v1/items/5/base", headers=headers, json={"minimal_duration": 2})
    assert overlapping.status_code == 422 and bad_enum.status_code == 422 and unknown.status_code == 404
    assert bad_enum.json()["error"]["fields"] == {"minimal_duration": "one of 1..7"}
    for response in (overlapping, bad_enum, unknown):
        contract.validate_response("POST", response.request.url.path, response.status_code, response.json())
    assert item_id not in sandbox.prices and item_id not in sandbox.calendars.base_params


# -- history and the price of a night ------------------------------------------------------------------------


async def test_the_price_of_a_night_is_the_latest_push_covering_it(world):
    sandbox, store, item_id = world
    await set_prices(sandbox, store, item_id, 1, 11, 3000, minimal_duration=2)
    await set_prices(sandbox, store, item_id, 5, 7, 5000)  # a weekend
    await set_prices(sandbox, store, item_id, 6, 9, 4000, extra_guest_fee=300)
    plan = actions.plan_listing(store, item_id, night_price=2500, minimal_duration=3)
    async with open_client(sandbox=sandbox) as client:
        await actions.apply_listing_plan(client, store, plan)

    nights = store.night_prices(item_id, day(0), day(12))
    by_night = {row.night: (row.night_price, row.minimal_duration, row.source)
                for row in nights.itertuples()}
    as_dates = {dt.date.fromisoformat(str(k)[:10]): v for k, v in by_night.items()}
    assert as_dates[day(0)] == (2500, 3, "base")
    assert as_dates[day(4)] == (3000, 2, "period")
    assert as_dates[day(5)] == (5000, 2, "period")  # minimal stay still from the first push: not re-sent
    assert as_dates[day(6)] == (4000, 2, "period")
    assert as_dates[day(8)] == (4000, 2, "period")
    assert as_dates[day(9)] == (3000, 2, "period")
    assert as_dates[day(11)] == (2500, 3, "base")
    assert len(store.price_pushes(item_id)) == 3  # every push kept
    for night, (price, _, source) in as_dates.items():  # what the sandbox was told agrees
        if source == "period":
            assert sandbox.prices[item_id][night]["night_price"] == price
    audits = store.audit_log()
    assert audits.action.tolist() == ["price_set"] * 3 + ["listing_set"]
    assert set(audits.outcome) == {"ok"}
    assert set(store.price_pushes(item_id).audit_id) == set(audits.audit_id[:3])


async def test_a_push_dropped_after_avito_got_it_is_audited_unknown_and_not_resent(world):
    sandbox, store, item_id = world
    sandbox.queue_fault("drop", f"/items/{item_id}/prices")
    with pytest.raises(AvitoTransportError):
        await set_prices(sandbox, store, item_id, 2, 4, 6100)
    assert len(sent(sandbox, "postRealtyPrices")) == 1  # never retried
    assert sandbox.prices[item_id][day(2)]["night_price"] == 6100  # it did arrive
    audit = store.audit_log().iloc[-1]
    assert (audit.action, audit.outcome) == ("price_set", "unknown")
    assert "may have applied it" in audit.detail
    assert store.price_pushes(item_id).empty  # not known to be the price: the audit says so


async def test_a_base_push_dropped_after_sending_is_unknown_and_a_refused_connection_is_failed(world):
    sandbox, store, item_id = world
    plan = actions.plan_listing(store, item_id, minimal_duration=2)
    sandbox.queue_fault("drop", "/base")
    async with open_client(sandbox=sandbox) as client:
        with pytest.raises(AvitoTransportError):
            await actions.apply_listing_plan(client, store, plan)
    assert len(sent(sandbox, "postBaseParams")) == 1
    assert store.audit_log().outcome.tolist() == ["unknown"]
    assert store.base_params(item_id).empty


async def test_avito_s_refusal_is_audited_failed_and_nothing_kept(world):
    sandbox, store, item_id = world
    plan = actions.plan_prices(store, item_id, day(2), day(4), 4000)
    del sandbox.world.items_by_id[item_id]  # the listing is gone on Avito's side: 404
    async with open_client(sandbox=sandbox) as client:
        with pytest.raises(AvitoError):
            await actions.apply_price_plan(client, store, plan)
    assert len(sent(sandbox, "postRealtyPrices")) == 1
    assert store.audit_log().outcome.tolist() == ["failed"] and store.price_pushes(item_id).empty


def test_plans_refuse_past_nights_and_unknown_listings(world):
    _, store, item_id = world
    with pytest.raises(ValueError, match="in the past"):
        actions.plan_prices(store, item_id, day(-1), day(2), 3000)
    with pytest.raises(ValueError, match="listing 123 is not in the store"):
        actions.plan_prices(store, 123, day(1), day(2), 3000)
    with pytest.raises(ValueError, match="listing 123 is not in the store"):
        actions.plan_listing(store, 123, minimal_duration=2)
    with pytest.raises(ValueError, match="must be after from"):
        actions.plan_prices(store, item_id, day(3), day(3), 3000)


def test_the_previews_speak_russian(world):
    _, store, item_id = world
    price = actions.plan_prices(store, item_id, day(4), day(6), 5500, minimal_duration=2)
    text = price.describe()
    assert f"ночи {day(4):%d.%m.%Y} – {day(5):%d.%m.%Y} (2 ночи)" in text
    assert "5\u00a0500\u00a0₽ за ночь, минимум 2 ночи" in text
    listing = actions.plan_listing(store, item_id, discounts={7: 10}, refund_days=3).describe()
    assert "скидки: от 7 ночей – 10 %" in listing and "бесплатная отмена: за 3 дн. до заезда" in listing


# -- widgets --------------------------------------------------------------------------------------------------


async def test_the_price_action_previews_then_sends_once_and_follows_the_calendar(world):
    from avito_kit.widgets import CalendarWidget, PriceAction

    sandbox, store, item_id = world
    async with open_client(sandbox=sandbox) as client:
        calendar = CalendarWidget(client, store, item_id=item_id, today=T)
        action = PriceAction(client, store, today=T).follow(calendar)
        calendar.date_from.value, calendar.date_to.value = day(4), day(6)
        assert (action.listing.value, action.date_from.value, action.date_to.value) == (item_id, day(4), day(6))
        assert "цена не задана avito_kit" in action.known.value
        action.price.value, action.min_stay.value = 0, 2
        action.price_button.click()
        assert action.plan is None and "night_price must be a positive integer" in action.status.value
        action.price.value = 5500
        action.price_button.click()
        assert "5\u00a0500\u00a0₽ за ночь, минимум 2 ночи" in action.preview.value and not sent(sandbox,
                                                                                               "postRealtyPrices")
        action.confirm_button.click()
        action.confirm_button.click()
        await action.wait_idle()
    assert len(sent(sandbox, "postRealtyPrices")) == 1
    assert sandbox.prices[item_id][day(5)]["night_price"] == 5500
    assert "Авито принял" in action.status.value and "5\u00a0500\u00a0₽" in action.known.value
    assert "5\u00a0500\u00a0₽ · от 2" in calendar.grid.value  # the calendar shows each night's known price
    assert store.audit_log().action.tolist() == ["price_set"]


async def test_the_listing_settings_panel_sends_only_what_changed(world):
    from avito_kit.widgets import ListingSettingsPanel

    sandbox, store, item_id = world
    async with open_client(sandbox=sandbox) as client:
        panel = ListingSettingsPanel(client, store, item_id=item_id)
        assert "ещё ничего не отправлял" in panel.current.value
        panel.min_stay.value, panel.instant.value, panel.refund_days.value = 2, True, 3
        panel.discounts[7].value, panel.send_discounts.value = 10, True
        panel.save_button.click()
        assert "минимальный срок: 2 ночи" in panel.preview.value
        panel.cancel_button.click()
        assert panel.plan is None and not sent(sandbox, "postBaseParams")
        panel.save_button.click()
        panel.confirm_button.click()
        await panel.wait_idle()
    (request,) = sent(sandbox, "postBaseParams")
    assert request.body == {"minimal_duration": 2, "instant": {"active": True},
                            "discount": [{"threshold": 7, "percent": 10}], "refund": {"days": 3}}
    assert "мин. ночей 2" in panel.current.value and "мгновенная бронь включена" in panel.current.value


# -- analytics ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("lead", "change"), [(0.5, 10), (0.2, 10), (0.19, 5), (0.1, 5), (0.0, 0), (-0.1, 0),
                                              (-0.15, -5), (-0.2, -5), (-0.21, -10), (-1.0, -10)])
def test_the_suggestion_rule(lead, change):
    from avito_kit.metrics import _suggested_change

    assert _suggested_change(lead) == change


async def test_listed_price_against_what_was_sold(world):
    from avito_kit import metrics

    sandbox, store, item_id = world
    from avito_kit.sync import sync

    stays = [(b["check_in"], b["check_out"]) for b in sandbox.bookings(item_id)]
    start = next(offset for offset in range(40, 300) if not any(
        check_in < day(offset + 3).isoformat() and check_out > day(offset).isoformat()
        for check_in, check_out in stays))
    booked = sandbox.add_booking(item_id, day(start), day(start + 3))  # 3 nights
    async with open_client(sandbox=sandbox) as client:
        await sync(client, store, progress=False, max_age=None)
    nightly = float(booked["base_price"]) / 3
    listed = int(nightly) + 1000  # listed above what the stay paid per night
    await set_prices(sandbox, store, item_id, start, start + 3, listed)
    below = metrics.nights_below_listed(store, day(start), day(start + 2), item_ids=[item_id])
    assert len(below) == 3 and below.shortfall.round(2).tolist() == [round(listed - nightly, 2)] * 3
    table = metrics.listed_vs_realized(store, day(start), day(start + 2), item_ids=[item_id])
    assert table.nights_priced.sum() == 3 and table.nights_booked.sum() == 3
    assert abs(table.adr_vs_listed.iloc[0] - (nightly / listed - 1)) < 1e-9


async def test_price_suggestions_cover_each_listing_and_week_with_a_reason(world):
    from avito_kit import metrics

    store = world[1]
    table = metrics.price_suggestions(store, as_of=T, weeks=3)
    assert set(table.groupby("item_id").size()) == {3}
    assert table.suggested_change_pct.isin([-10, -5, 0, 5, 10]).all() and table.reason.str.len().gt(0).all()
    assert table.basis.iloc[0] == "final"  # a store synced today has seen no booking a year back
    assert (table.week_start.iloc[1] - table.week_start.iloc[0]).days == 7
    assert ((table.week_start - table.ly_week_start).dt.days == 364).all()


async def test_both_writes_and_their_answers_match_the_spec_through_the_client(world, contract):
    from .test_client_sandbox import ContractCheckingTransport, client_for

    sandbox, _, item_id = world
    checking = ContractCheckingTransport(sandbox.transport())
    async with client_for(sandbox, checking) as client:
        await client.update_item_prices(item_id, {"prices": [
            {"date_from": day(0), "date_to": day(0), "night_price": 4100, "minimal_duration": 1},
            {"date_from": day(1), "date_to": day(6), "night_price": 4300, "extra_guest_fee": 0}]})
        await client.update_item_base_params(item_id, {"instant": {"active": False}, "discount": [],
                                                       "extra_guest_threshold": 2, "extra_guest_fee": 400})
    assert {"postRealtyPrices", "postBaseParams"} <= checking.operations
    assert sandbox.prices[item_id][day(0)]["night_price"] == 4100


@pytest.mark.slow
async def test_a_push_refused_before_it_reached_avito_is_retried_and_sent_once(world):
    sandbox, store, item_id = world
    sandbox.queue_fault("refuse", f"/items/{item_id}/prices")
    assert await set_prices(sandbox, store, item_id, 2, 4, 4700) == "ok"
    assert [r.fault for r in sent(sandbox, "postRealtyPrices")] == ["refuse", None]
    assert sandbox.prices[item_id][day(3)]["night_price"] == 4700
    assert store.audit_log().outcome.tolist() == ["ok"]
