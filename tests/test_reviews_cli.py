"""Answers to reviews: planned and previewed in Russian, sent exactly once, audited, a dropped connection
``unknown`` and never resent; and ``avito-kit review answer`` / ``review delete-answer``."""

from __future__ import annotations

import io
import json
import sys

import pandas as pd
import pytest

from avito_kit import actions, cli
from avito_kit.errors import AvitoTransportError
from avito_kit.sandbox import Sandbox
from avito_kit.session import open_client
from avito_kit.store import Store
from avito_kit.widgets import ReviewsWidget

from .helpers import assert_one_line, cli_run, copy_store, synced_store_file


def make_sandbox() -> Sandbox:
    return Sandbox(seed=21, n_items=6, n_chats=4)


@pytest.fixture(scope="module")
def synced_file(tmp_path_factory):
    return synced_store_file(tmp_path_factory, make_sandbox())


@pytest.fixture
def world(synced_file, tmp_path):
    """(sandbox, store): a fresh sandbox and a copy of the store synced from an identical one."""
    return make_sandbox(), Store(copy_store(synced_file, tmp_path))


@pytest.fixture(autouse=True)
def no_terminal(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))


def unanswered(sandbox: Sandbox):
    return next(r for r in sandbox.reviews.reviews if r.answer is None)


def published(sandbox: Sandbox):
    return next(r for r in sandbox.reviews.reviews if r.answer and r.answer["status"] == "published")


def writes(sandbox: Sandbox) -> list[str]:
    return [r.operation for r in sandbox.requests if r.operation in ("createReviewAnswerV1", "removeReviewAnswerV1")]


# -- actions -------------------------------------------------------------------------------------------------


async def test_an_answer_is_sent_once_stored_and_audited(world):
    sandbox, store = world
    review = unanswered(sandbox)
    async with open_client(sandbox=sandbox) as client:
        created = await actions.send_review_answer(client, store, review.id, "Спасибо за отзыв!")
    assert review.answer["id"] == created["id"] and writes(sandbox) == ["createReviewAnswerV1"]
    stored = store.reviews().set_index("review_id").loc[review.id]
    assert (stored.answer_id, stored.answer_text, stored.answer_status) == (created["id"], "Спасибо за отзыв!",
                                                                            "moderation")
    assert store.review_events(review.id).event.tolist() == ["first_seen", "changed"]
    audit = store.audit_log().iloc[-1]
    assert (audit.action, audit.target, audit.outcome) == ("review_answer", str(review.id), "ok")
    assert json.loads(audit.payload) == {"text": "Спасибо за отзыв!"} and str(created["id"]) in audit.detail


async def test_an_answer_dropped_after_avito_got_it_is_audited_unknown_and_never_resent(world):
    sandbox, store = world
    review = unanswered(sandbox)
    sandbox.queue_fault("drop", "/ratings/v1/answers")
    async with open_client(sandbox=sandbox) as client:
        with pytest.raises(AvitoTransportError):
            await actions.send_review_answer(client, store, review.id, "Спасибо!")
    assert writes(sandbox) == ["createReviewAnswerV1"] and review.answer["text"] == "Спасибо!"
    audit = store.audit_log().iloc[-1]
    assert (audit.action, audit.outcome) == ("review_answer", "unknown") and "check the review" in audit.detail
    assert pd.isna(store.reviews().set_index("review_id").loc[review.id].answer_status)


async def test_an_answer_refused_before_it_reached_avito_is_audited_failed(world):
    sandbox, store = world
    review = unanswered(sandbox)
    for _ in range(3):
        sandbox.queue_fault("refuse", "/ratings/v1/answers")

    async def no_wait(seconds: float) -> None:
        return None

    async with open_client(sandbox=sandbox, sleep=no_wait) as client:
        with pytest.raises(AvitoTransportError):
            await actions.send_review_answer(client, store, review.id, "Спасибо!")
    assert store.audit_log().iloc[-1].outcome == "failed" and review.answer is None


async def test_deleting_an_answer_is_sent_once_and_audited(world):
    sandbox, store = world
    review = published(sandbox)
    answer_id = review.answer["id"]
    plan = actions.plan_delete_review_answer(store, answer_id)
    assert f"Удалить ответ {answer_id} на отзыв {review.id}" in plan.describe() and "опубликован" in plan.describe()
    async with open_client(sandbox=sandbox) as client:
        await actions.delete_review_answer(client, store, answer_id)
    assert review.answer is None and writes(sandbox) == ["removeReviewAnswerV1"]
    assert pd.isna(store.reviews().set_index("review_id").loc[review.id].answer_id)
    assert (store.audit_log().iloc[-1].action, store.audit_log().iloc[-1].outcome) == ("review_answer_delete", "ok")


@pytest.mark.parametrize(("review_id", "text", "message"), [
    (0, "Спасибо", "review_id"), ("abc", "Спасибо", "review_id"), (5, "", "empty"), (5, "   ", "empty"),
])
async def test_a_bad_answer_is_refused_before_anything_is_sent_or_written(world, review_id, text, message):
    sandbox, store = world
    async with open_client(sandbox=sandbox) as client:
        with pytest.raises(ValueError, match=message):
            await actions.send_review_answer(client, store, review_id, text)
    assert sandbox.requests == [] and store.audit_log().empty


async def test_an_answered_review_is_refused_from_the_store(world):
    sandbox, store = world
    review = published(sandbox)
    with pytest.raises(ValueError, match="already has answer"):
        actions.plan_review_answer(store, review.id, "Ещё раз спасибо")


def test_the_preview_shows_the_review_and_the_answer_in_russian(world):
    sandbox, store = world
    review = unanswered(sandbox)
    text = actions.plan_review_answer(store, review.id, "Спасибо!").describe()
    assert f"Ответ на отзыв {review.id}" in text and f"оценка {review.score}/5" in text
    assert review.sender_name in text and "Ответ: «Спасибо!»" in text and "модерац" in text


# -- the command line ----------------------------------------------------------------------------------------


@pytest.fixture
def db(synced_file, tmp_path):
    return copy_store(synced_file, tmp_path)


@pytest.fixture
def sandbox(monkeypatch):
    sandbox = make_sandbox()
    monkeypatch.setattr(cli, "_sandbox", lambda: sandbox)
    return sandbox


def test_review_answer_and_delete_answer_against_the_sandbox(capsys, db, sandbox):
    review = unanswered(sandbox)
    code, out, err = cli_run(capsys, "--sandbox", "--db", db, "review", "answer", review.id, "Спасибо!", "--yes")
    assert (code, err) == (0, "") and f"Ответ на отзыв {review.id}" in out and "отправлен" in out
    answer_id = review.answer["id"]
    code, out, err = cli_run(capsys, "--sandbox", "--db", db, "review", "delete-answer", answer_id, "--yes")
    assert (code, err) == (0, "") and f"Удалить ответ {answer_id}" in out and "удалён" in out
    assert review.answer is None and writes(sandbox) == ["createReviewAnswerV1", "removeReviewAnswerV1"]
    assert Store(db).audit_log().outcome.tolist() == ["ok", "ok"]


@pytest.mark.parametrize(("argv", "message"), [
    (["review", "answer", "0", "Спасибо", "--yes"], "REVIEW_ID must be a positive integer"),
    (["review", "answer", "abc", "Спасибо", "--yes"], "REVIEW_ID must be a positive integer"),
    (["review", "answer", "92000001", "  ", "--yes"], "answer text is empty"),
    (["review", "delete-answer", "-5", "--yes"], "ANSWER_ID must be a positive integer"),
    (["review", "delete-answer", "70000001"], "no terminal to confirm on: add --yes to send"),
    (["review", "delete-answer"], "the following arguments are required: ANSWER_ID"),
])
def test_bad_review_commands_exit_2_with_one_line_before_any_request(capsys, db, sandbox, argv, message):
    code, _, err = cli_run(capsys, "--sandbox", "--db", db, *argv)
    assert code == 2 and message in assert_one_line(err)
    assert writes(sandbox) == []


def test_an_already_answered_review_exits_2_before_sending(capsys, db, sandbox):
    review = published(sandbox)
    code, _, err = cli_run(capsys, "--sandbox", "--db", db, "review", "answer", review.id, "Спасибо", "--yes")
    assert code == 2 and "already has answer" in assert_one_line(err) and writes(sandbox) == []


# -- the widget ----------------------------------------------------------------------------------------------


async def test_the_widget_lists_unanswered_first_and_answers_once_after_confirming(world):
    sandbox, store = world
    async with open_client(sandbox=sandbox) as client:
        widget = ReviewsWidget(client, store)
        rows = list(widget._rows.values())
        assert rows[0]["needs_answer"] and not rows[-1]["needs_answer"]
        assert widget.review_list.options[0][0].startswith("●")
        review_id = widget.review_list.options[0][1]
        widget.review_list.value = review_id
        assert widget.send_button.disabled  # nothing typed yet
        widget.answer.value = "Спасибо за отзыв!"
        widget.send_button.click()
        assert widget.confirm_box.layout.display == "flex" and f"Ответ на отзыв {review_id}" in widget.preview.value
        assert writes(sandbox) == []
        widget.confirm_button.click()
        widget.confirm_button.click()  # a double click sends once
        await widget.wait_idle()
    assert writes(sandbox) == ["createReviewAnswerV1"]
    assert "на модерации" in widget.details.value and "модерации" in widget.status.value
    assert store.audit_log().outcome.tolist() == ["ok"]


async def test_the_widget_shows_a_rejected_answer_and_its_reason(world):
    sandbox, store = world
    rejected = next(r for r in sandbox.reviews.reviews if r.answer and r.answer["status"] == "rejected")
    async with open_client(sandbox=sandbox) as client:
        widget = ReviewsWidget(client, store)
        widget.review_list.value = rejected.id
        assert "отклонён модерацией" in widget.details.value and "Нецензурная лексика" in widget.details.value
        assert not widget.answer.disabled  # a rejected answer may be replaced


async def test_the_widget_does_not_send_on_cancel(world):
    sandbox, store = world
    async with open_client(sandbox=sandbox) as client:
        widget = ReviewsWidget(client, store)
        widget.review_list.value = widget.review_list.options[0][1]
        widget.answer.value = "Спасибо"
        widget.send_button.click()
        widget.cancel_button.click()
        widget.confirm_button.click()
        await widget.wait_idle()
    assert writes(sandbox) == [] and store.audit_log().empty and widget.answer.value == "Спасибо"
