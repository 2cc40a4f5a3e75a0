"""Ratings and reviews: the client's four operations against the sandbox, every request and answer checked
against ratings.json, paging, input checks before any request, the "no ratings" switch, and the sync into the
store (incremental, history kept)."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from avito_kit import charts, metrics
from avito_kit.errors import AvitoBadRequest, AvitoError, AvitoTransportError
from avito_kit.report import write_report
from avito_kit.rows import review_row
from avito_kit.sandbox import Sandbox
from avito_kit.sandbox.api_ratings import REVIEWS_PAGE_MAX
from avito_kit.session import open_client
from avito_kit.store import Store
from avito_kit.sync import DEFAULT_MAX_AGE, NO_RATINGS_NOTE
from tests.openapi_contract import OpenApiContract, require_contract

from .helpers import TODAY, clean_sync, issue_token, sync_with

BASE_URL = "https://api.avito.ru"


@pytest.fixture(scope="module")
def contract() -> OpenApiContract:
    return require_contract()


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(seed=11, today=TODAY, n_items=12, n_chats=4)


class RatingsApi:
    """Plain httpx against the sandbox's ratings, every exchange checked against ratings.json."""

    def __init__(self, http: httpx.AsyncClient, contract: OpenApiContract) -> None:
        self.http, self.contract = http, contract

    async def call(self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None,
                   valid_request: bool = True) -> httpx.Response:
        if valid_request:
            self.contract.validate_request(method, path, params or {}, json_body=json)
        else:
            with pytest.raises(AssertionError):
                self.contract.validate_request(method, path, params or {}, json_body=json)
        response = await self.http.request(method, path, params=params, json=json)
        self.contract.validate_response(method, path, response.status_code,
                                        response.json() if response.content else None)
        return response


@pytest.fixture
async def api(contract, sandbox):
    async with httpx.AsyncClient(transport=sandbox.transport(), base_url=BASE_URL,
                                 headers={"Authorization": f"Bearer {issue_token(sandbox)}"}) as http:
        yield RatingsApi(http, contract)


# -- the sandbox against the spec --------------------------------------------------------------------------


async def test_rating_info_matches_the_reviews(api, sandbox):
    body = (await api.call("GET", "/ratings/v1/info")).json()
    scores = [r.score for r in sandbox.reviews.reviews if r.used_in_score]
    assert body["isEnabled"] is True
    assert body["rating"]["reviewsCount"] == len(sandbox.reviews.reviews) > 20
    assert body["rating"]["score"] == round(sum(scores) / len(scores), 1)


async def test_the_seeded_reviews_cover_every_score_images_answers_and_one_rejection(api, sandbox):
    reviews, offset = [], 0
    while True:
        page = (await api.call("GET", "/ratings/v1/reviews", params={"offset": offset, "limit": 50})).json()
        reviews += page["reviews"]
        offset += 50
        if offset >= page["total"]:
            break
    assert len(reviews) == page["total"] == len({r["id"] for r in reviews})
    assert {r["score"] for r in reviews} == {1, 2, 3, 4, 5}
    assert any(r["images"] for r in reviews) and any(not r["images"] for r in reviews)
    statuses = [(r["answer"] or {}).get("status") for r in reviews]
    assert statuses.count("rejected") == 1 and "published" in statuses and None in statuses
    rejected = next(r for r in reviews if (r["answer"] or {}).get("status") == "rejected")
    assert rejected["answer"]["reject_reasons"][0]["title"] and rejected["canAnswer"] is True
    assert [r["createdAt"] for r in reviews] == sorted((r["createdAt"] for r in reviews), reverse=True)
    item_ids = {item.id for item in sandbox.items}
    assert all(r["item"]["id"] in item_ids and r["sender"]["name"] for r in reviews)


@pytest.mark.parametrize("params", [{"offset": 0, "limit": 51}, {"offset": -1, "limit": 10}, {"limit": 10},
                                    {"offset": 0, "limit": 0}])
async def test_bad_paging_is_a_400_in_the_spec_shape(api, params):
    response = await api.call("GET", "/ratings/v1/reviews", params=params, valid_request=False)
    assert response.status_code == 400 and response.json()["error"]["code"] == "validation"


async def test_answering_then_removing_an_answer(api, sandbox):
    review = next(r for r in sandbox.reviews.reviews if r.answer is None)
    created = await api.call("POST", "/ratings/v1/answers", json={"reviewId": review.id, "message": "Спасибо!"})
    assert created.status_code == 200
    answer_id = created.json()["id"]
    assert review.answer == {"id": answer_id, "text": "Спасибо!", "status": "moderation",
                             "createdAt": created.json()["createdAt"], "reject_reasons": []}
    again = await api.call("POST", "/ratings/v1/answers", json={"reviewId": review.id, "message": "Ещё раз"})
    assert again.status_code == 400  # one answer per review
    removed = await api.call("DELETE", f"/ratings/v1/answers/{answer_id}")
    assert removed.json() == {"success": True} and review.answer is None
    gone = await api.call("DELETE", f"/ratings/v1/answers/{answer_id}")
    assert gone.status_code == 404


async def test_a_rejected_answer_can_be_replaced(api, sandbox):
    review = next(r for r in sandbox.reviews.reviews if r.answer and r.answer["status"] == "rejected")
    created = await api.call("POST", "/ratings/v1/answers", json={"reviewId": review.id, "message": "Спасибо."})
    assert created.status_code == 200 and review.answer["status"] == "moderation"


async def test_answer_errors(api):
    assert (await api.call("POST", "/ratings/v1/answers", json={"reviewId": 1, "message": "x"})).status_code == 404
    bad = await api.call("POST", "/ratings/v1/answers", json={"reviewId": "x", "message": "x"}, valid_request=False)
    assert bad.status_code == 400
    blank = await api.call("POST", "/ratings/v1/answers", json={"reviewId": 1, "message": " "})
    assert blank.status_code == 400


@pytest.mark.parametrize(("access", "status"), [("forbidden", 403), ("payment_required", 402)])
async def test_an_account_without_ratings_is_refused(api, sandbox, access, status):
    sandbox.switches.ratings_access = access
    assert (await api.call("GET", "/ratings/v1/info")).status_code == status
    assert (await api.call("GET", "/ratings/v1/reviews", params={"offset": 0, "limit": 5})).status_code == status


async def test_replaying_an_earlier_day_hides_later_reviews_and_answers(sandbox):
    everything = sandbox.reviews.as_of(None)
    sandbox.today = TODAY.replace(month=1, day=15)
    moment = sandbox.moment
    earlier = sandbox.reviews.as_of(moment)
    assert 0 < len(earlier) < len(everything)
    assert all(r.to_json(moment)["answer"] is None or r.answer["createdAt"] <= moment for r in earlier)


# -- the client ----------------------------------------------------------------------------------------------


async def test_iter_reviews_pages_by_offset_until_total(sandbox):
    async with open_client(sandbox=sandbox) as client:
        reviews = [r async for r in client.iter_reviews(limit=20)]
        info = await client.get_rating_info()
    assert len(reviews) == info["rating"]["reviewsCount"]
    pages = [r.query for r in sandbox.requests if r.operation == "getReviewsV1"]
    assert [int(p["offset"]) for p in pages] == list(range(0, len(reviews), 20))
    assert all(p["limit"] == "20" for p in pages)


async def test_answer_and_delete_through_the_client_send_once(sandbox):
    review = next(r for r in sandbox.reviews.reviews if r.answer is None)
    async with open_client(sandbox=sandbox) as client:
        created = await client.answer_review(review.id, "Спасибо за отзыв!")
        assert review.answer["id"] == created["id"]
        assert await client.delete_review_answer(created["id"]) == {"success": True}
    sent = [r for r in sandbox.requests if r.operation == "createReviewAnswerV1"]
    assert len(sent) == 1 and sent[0].body == {"reviewId": review.id, "message": "Спасибо за отзыв!"}


async def test_a_dropped_answer_is_never_resent(sandbox):
    review = next(r for r in sandbox.reviews.reviews if r.answer is None)
    sandbox.queue_fault("drop", "/ratings/v1/answers")
    async with open_client(sandbox=sandbox) as client:
        with pytest.raises(AvitoTransportError):
            await client.answer_review(review.id, "Спасибо!")
    assert [r.operation for r in sandbox.requests].count("createReviewAnswerV1") == 1
    assert review.answer is not None  # it did arrive


@pytest.mark.parametrize(("call", "message"), [
    (lambda c: c.answer_review(0, "x"), "review_id"), (lambda c: c.answer_review("abc", "x"), "review_id"),
    (lambda c: c.answer_review(5, "  "), "empty"), (lambda c: c.answer_review(5, None), "empty"),
    (lambda c: c.delete_review_answer(-3), "answer_id"), (lambda c: c.get_reviews(0, REVIEWS_PAGE_MAX + 1), "limit"),
    (lambda c: c.get_reviews(-1), "offset"),
])
async def test_bad_input_is_refused_before_any_request(sandbox, call, message):
    async with open_client(sandbox=sandbox) as client:
        with pytest.raises(ValueError, match=message):
            await call(client)
    assert [r for r in sandbox.requests if r.operation != "getAccessToken"] == []


@pytest.mark.parametrize(("access", "status"), [("forbidden", 403), ("payment_required", 402)])
async def test_the_client_raises_on_no_ratings(sandbox, access, status):
    sandbox.switches.ratings_access = access
    async with open_client(sandbox=sandbox) as client:
        with pytest.raises(AvitoError) as raised:
            await client.get_rating_info()
    assert raised.value.status == status


async def test_an_already_answered_review_is_a_bad_request(sandbox):
    review = next(r for r in sandbox.reviews.reviews if r.answer and r.answer["status"] == "published")
    async with open_client(sandbox=sandbox) as client:
        with pytest.raises(AvitoBadRequest, match="already has an answer"):
            await client.answer_review(review.id, "Спасибо!")


# -- store and sync ------------------------------------------------------------------------------------------


def sync_sandbox() -> Sandbox:
    return Sandbox(seed=11, today=TODAY, n_items=12, n_chats=4)


async def test_a_sync_stores_every_review_and_the_rating(tmp_path):
    sandbox = sync_sandbox()
    store = Store(tmp_path / "r.duckdb")
    report = await sync_with(sandbox, store)
    stored = store.reviews()
    assert report.reviews_seen == report.reviews_new == len(stored) == len(sandbox.reviews.reviews)
    assert "reviews read" in str(report)
    rejected = stored[stored.answer_status == "rejected"].iloc[0]
    assert json.loads(rejected.answer_reject_reasons)[0]["title"]
    with_images = stored[stored.image_count > 0].iloc[0]
    assert json.loads(with_images.images)[0]["sizes"][0]["url"].startswith("https://")
    assert set(store.review_events().event) == {"first_seen"}
    snapshots = store.rating_snapshots()
    assert len(snapshots) == 1 and snapshots.reviews_count.iloc[0] == len(stored)


async def test_a_second_sync_reads_only_the_newest_page_and_keeps_changes(tmp_path):
    sandbox = sync_sandbox()
    store = Store(tmp_path / "r.duckdb")
    await sync_with(sandbox, store, max_age=DEFAULT_MAX_AGE)
    answered = next(r for r in sandbox.reviews.reviews if r.answer and r.answer["status"] == "moderation")
    sandbox.reviews.moderate(answered.answer["id"], "published")
    mark = len(sandbox.requests)
    again = await sync_with(sandbox, store, max_age=DEFAULT_MAX_AGE)
    pages = [r.query["offset"] for r in sandbox.requests[mark:] if r.operation == "getReviewsV1"]
    assert pages and len(pages) < -(-len(sandbox.reviews.reviews) // REVIEWS_PAGE_MAX) + 1
    assert again.reviews_changed == 1 and again.reviews_new == 0
    event = store.review_events(answered.id).iloc[-1]
    assert (event.event, event.previous_answer_status, event.answer_status) == ("changed", "moderation", "published")
    assert len(store.rating_snapshots()) == 1  # the rating did not move: no new row


async def test_the_pending_answers_bound_how_far_back_an_incremental_sync_reads(tmp_path):
    sandbox = sync_sandbox()
    store = Store(tmp_path / "r.duckdb")
    oldest = sandbox.reviews.reviews[-1]
    oldest.answer = {"id": 5, "text": "Спасибо", "status": "moderation", "createdAt": oldest.created_at + 60,
                     "reject_reasons": []}
    await sync_with(sandbox, store, max_age=DEFAULT_MAX_AGE)
    sandbox.reviews.moderate(5, "rejected")
    again = await sync_with(sandbox, store, max_age=DEFAULT_MAX_AGE)
    assert again.reviews_changed == 1 and store.reviews().set_index("review_id").loc[oldest.id].answer_status == (
        "rejected")


@pytest.mark.parametrize(("access", "status"), [("forbidden", 403), ("payment_required", 402)])
async def test_a_sync_without_ratings_skips_them_with_a_note(tmp_path, access, status):
    sandbox = sync_sandbox()
    sandbox.switches.ratings_access = access
    store = Store(tmp_path / "r.duckdb")
    report = await sync_with(sandbox, store)
    assert report.ratings_skipped and NO_RATINGS_NOTE.format(status=status) in report.notes
    assert store.reviews().empty and report.items > 0
    assert store.sync_runs().iloc[-1].status == "ok"


def test_review_rows_keep_the_spec_fields():
    row = review_row({"id": 7, "score": 4, "stage": "done", "text": "Хорошо", "createdAt": 1_700_000_000,
                      "usedInScore": True, "canAnswer": True, "sender": None, "item": None, "images": []})
    assert (row["review_id"], row["sender_name"], row["item_id"], row["answer_id"], row["image_count"]) == (
        7, None, None, None, 0)
    assert str(row["created_at"]) == "2023-11-14 22:13:20"


# -- analytics -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reviewed_store(tmp_path_factory) -> Store:
    """A store synced from a sandbox whose past bookings are readable, so reviews match their stays."""
    sandbox = Sandbox(seed=21, today=TODAY, n_items=6, n_chats=4, refuse_past_bookings_read=False)
    return clean_sync(sandbox, tmp_path_factory.mktemp("reviews") / "r.duckdb")


def test_the_review_inbox_puts_unanswered_first_and_finds_the_stays(reviewed_store):
    inbox = metrics.review_inbox(reviewed_store)
    waiting = inbox["needs_answer"].tolist()
    assert waiting == sorted(waiting, reverse=True) and any(waiting) and not all(waiting)
    assert inbox.loc[inbox.answer_status == "rejected", "needs_answer"].all()
    matched = inbox.dropna(subset=["booking_id"])
    assert len(matched) == len(inbox)  # every sandbox review follows a stay of its guest
    bookings = reviewed_store.bookings().set_index("booking_id")
    for row in matched.itertuples():
        stay = bookings.loc[row.booking_id]
        assert stay.item_id == row.item_id and stay.guest_name.split()[0] == row.sender_name
        assert stay.check_out.date() <= row.created_at.date()


def test_the_review_metrics_agree_with_the_reviews(reviewed_store):
    reviews = reviewed_store.reviews()
    distribution = metrics.score_distribution(reviewed_store)
    assert distribution.score.tolist() == [1, 2, 3, 4, 5] and distribution.reviews.sum() == len(reviews)
    assert distribution.share.sum() == pytest.approx(1)
    per_listing = metrics.reviews_per_listing(reviewed_store)
    assert per_listing.reviews.sum() == len(reviews)
    share = metrics.answer_share(reviewed_store).iloc[0]
    assert share.answered + per_listing.unanswered.sum() == len(reviews) and share.rejected == 1
    history = metrics.rating_history(reviewed_store)
    assert history.reviews_count.iloc[-1] == len(reviews)
    for name in ("review_inbox", "rating_history", "score_distribution", "reviews_per_listing", "answer_share",
                 "time_to_answer"):
        assert name in metrics.METRICS and metrics.METRICS[name].summary


@pytest.mark.slow
async def test_time_to_answer_counts_from_when_the_review_was_first_seen(tmp_path):
    sandbox = sync_sandbox()
    store = Store(tmp_path / "r.duckdb")
    await sync_with(sandbox, store)
    review = unanswered_review(sandbox)
    sandbox.clock = lambda: time.time() + 3600  # the host answers an hour later
    async with open_client(sandbox=sandbox) as client:
        await client.answer_review(review.id, "Спасибо!")
    await sync_with(sandbox, store)
    times = metrics.time_to_answer(store)
    assert times.review_id.tolist() == [review.id]  # those answered before the first sync are left out
    assert times.hours.iloc[0] == pytest.approx(1, abs=0.05)


def unanswered_review(sandbox: Sandbox):
    return next(r for r in sandbox.reviews.reviews if r.answer is None)


@pytest.mark.slow
def test_the_report_has_a_reviews_section_and_unanswered_reviews_in_the_attention_row(reviewed_store, tmp_path):
    page = write_report(reviewed_store, tmp_path / "r.html", today=TODAY).read_text(encoding="utf-8")
    waiting = metrics.review_inbox(reviewed_store).query("needs_answer")
    assert "<h2>Отзывы</h2>" in page and 'id="chart-rating"' in page
    assert f"{len(waiting)} отзыв" in page and "без ответа" in page
    assert str(waiting.review_id.iloc[0]) in page and "avito-kit review answer" in page


def test_the_rating_chart_without_reviews_says_so():
    figure = charts.rating_over_time(None, None)
    assert "рейтинг" in figure.layout.title.text.lower() and not figure.data


async def test_every_request_the_client_sends_matches_the_spec(contract, sandbox):
    async with open_client(sandbox=sandbox) as client:
        await client.get_rating_info()
        reviews = [r async for r in client.iter_reviews(limit=30)]
        created = await client.answer_review(next(r["id"] for r in reviews if r["answer"] is None), "Спасибо!")
        await client.delete_review_answer(created["id"])
    sent = [r for r in sandbox.requests if r.path.startswith("/ratings/")]
    assert {r.operation for r in sent} == {"getRatingsInfoV1", "getReviewsV1", "createReviewAnswerV1",
                                           "removeReviewAnswerV1"}
    for request in sent:
        contract.validate_request(request.method, request.path, request.query,
                                  json_body=request.body if request.method == "POST" else None)
