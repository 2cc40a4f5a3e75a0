"""Handlers of ratings.json: the rating, the reviews (offset/limit), answering a review and removing an answer.

Bad input answers 400 in the spec's ``ReviewError`` shape (``{"error": {"code": "validation", "message"}}``,
a string code unlike the other families). The switch ``ratings_access`` makes the account one without ratings:
"forbidden" answers 403 as the spec documents, "payment_required" 402 as a paid feature would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .params import Reject

if TYPE_CHECKING:
    from .app import SandboxApp

__all__ = ["REVIEWS_PAGE_MAX", "create_answer", "rating_info", "remove_answer", "reviews_page"]

REVIEWS_PAGE_MAX = 50  # getReviewsV1: limit 1..50
NO_RATINGS = "нет доступа к рейтингу и отзывам"


def _refuse_without_ratings(sandbox: SandboxApp) -> None:
    access = sandbox.switches.ratings_access
    if access == "forbidden":
        raise Reject(403, NO_RATINGS)
    if access == "payment_required":
        raise Reject(402, NO_RATINGS)


def _invalid(message: str) -> tuple[int, Any]:
    return 400, {"error": {"code": "validation", "message": message}}


def _whole(raw: list[str] | None) -> int | None:
    value = raw[-1] if raw else None
    return int(value) if value is not None and value.strip().lstrip("-").isdigit() else None


def rating_info(sandbox: SandboxApp, *_: Any) -> tuple[int, Any]:
    _refuse_without_ratings(sandbox)
    reviews = sandbox.reviews.as_of(sandbox.moment)
    scored = [review.score for review in reviews if review.used_in_score]
    rating = None
    if scored:
        rating = {"score": round(sum(scored) / len(scored), 1), "reviewsWithScoreCount": len(scored),
                  "reviewsCount": len(reviews)}
    return 200, {"isEnabled": True, "rating": rating}


def reviews_page(sandbox: SandboxApp, _: dict[str, str], query: dict[str, list[str]], __: Any) -> tuple[int, Any]:
    _refuse_without_ratings(sandbox)
    offset, limit = _whole(query.get("offset")), _whole(query.get("limit"))
    if offset is None or offset < 0:
        return _invalid("Field `offset` is required and must be an integer >= 0")
    if limit is None or not 1 <= limit <= REVIEWS_PAGE_MAX:
        return _invalid(f"Field `limit` is required and must be an integer 1..{REVIEWS_PAGE_MAX}")
    moment = sandbox.moment
    reviews = sandbox.reviews.as_of(moment)
    return 200, {"total": len(reviews), "reviews": [r.to_json(moment) for r in reviews[offset:offset + limit]]}


def create_answer(sandbox: SandboxApp, _: dict[str, str], __: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    _refuse_without_ratings(sandbox)
    if not isinstance(body, dict):
        return _invalid('body must be {"reviewId": int, "message": str}')
    review_id, message = body.get("reviewId"), body.get("message")
    if isinstance(review_id, bool) or not isinstance(review_id, int):
        return _invalid("Field `reviewId` must be an integer")
    if not isinstance(message, str) or not message.strip():
        return _invalid("Field `message` must be a non-empty string")
    review = sandbox.reviews.review(review_id)
    if review is None:
        raise Reject(404, f"review {review_id} not found")
    if review.answer is not None and review.answer["status"] != "rejected":
        return _invalid(f"review {review_id} already has an answer")
    # A fake clock may sit behind the generated history: an answer still comes after its review.
    answer = sandbox.reviews.answer(review, message, max(int(sandbox.clock()), review.created_at + 60))
    return 200, {"id": answer["id"], "createdAt": answer["createdAt"]}


def remove_answer(sandbox: SandboxApp, path_params: dict[str, str], *_: Any) -> tuple[int, Any]:
    _refuse_without_ratings(sandbox)
    answer_id = _whole([path_params["answer_id"]])
    review = sandbox.reviews.answered(answer_id) if answer_id is not None else None
    if review is None:
        raise Reject(404, f"answer {path_params['answer_id']} not found")
    review.answer = None
    return 200, {"success": True}
