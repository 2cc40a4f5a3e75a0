"""The sandbox's reviews: guests' reviews of past stays, drawn from the world's bookings, and the host's answers.

Drawn lazily (a world of a thousand listings pays only when ratings are read) from their own generator, so the
world's other draws never change. A review follows a stay that ended before ``today``: sent 1-6 days after the
check-out by the booking's guest, about the booking's listing. Scores run 1-5 (mostly 4-5), a few reviews carry
images, about half are answered (published, a few still in moderation) and exactly one answer was rejected by
moderation, with its reason.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .data import World

__all__ = ["ANSWER_STATUSES", "REJECT_REASON", "Review", "ReviewBook"]

ANSWER_STATUSES = ("moderation", "published", "rejected")
REJECT_REASON = {"id": 100, "title": "Нецензурная лексика"}  # ratings.json RejectReason's example
REVIEW_SHARE = 0.3  # of finished stays
MAX_REVIEWS_PER_ITEM = 12
SCORE_WEIGHTS = ((5, 55), (4, 22), (3, 10), (2, 6), (1, 7))
TEXTS = {
    5: ("Отличная квартира, всё как на фото. Хозяин на связи!", "Чисто, уютно, рядом метро. Рекомендую."),
    4: ("Хорошая квартира, но шумно ночью.", "Всё понравилось, только Wi-Fi слабый."),
    3: ("Нормально, но ожидали большего.", "Квартира на троечку: старая мебель."),
    2: ("Грязно в ванной, заселение задержали на час.", "Не соответствует фото."),
    1: ("Ужасно. Не было горячей воды, хозяин не отвечал.", "Никому не советую."),
}
ANSWERS = ("Спасибо за отзыв! Будем рады видеть вас снова.", "Спасибо! Учтём ваши замечания.")


@dataclass(slots=True)
class Review:
    """One review as the sandbox keeps it; ``to_json`` gives ratings.json's ``Review``."""

    id: int
    score: int
    stage: str
    text: str
    created_at: int
    sender_name: str
    item_id: int
    item_title: str
    used_in_score: bool
    images: list[dict[str, Any]] = field(default_factory=list)
    answer: dict[str, Any] | None = None

    def to_json(self, moment: int | None = None) -> dict[str, Any]:
        answer = self.answer
        if answer is not None and moment is not None and answer["createdAt"] > moment:
            answer = None  # replaying an earlier day: the answer was not written yet
        return {
            "id": self.id,
            "score": self.score,
            "stage": self.stage,
            "text": self.text,
            "createdAt": self.created_at,
            "usedInScore": self.used_in_score,
            "canAnswer": answer is None or answer["status"] == "rejected",
            "sender": {"name": self.sender_name},
            "item": {"id": self.item_id, "title": self.item_title},
            "images": self.images,
            "answer": dict(answer) if answer is not None else None,
        }


class ReviewBook:
    """Every review of the account, newest first, and the answers written to them."""

    def __init__(self, world: World) -> None:
        self._world = world
        self._reviews: list[Review] | None = None
        self._rng = random.Random(f"reviews:{world.seed}")
        self._next_answer_id = 70_000_001

    @property
    def reviews(self) -> list[Review]:
        if self._reviews is None:
            self._reviews = self._draw()
        return self._reviews

    def as_of(self, moment: int | None) -> list[Review]:
        """The reviews written by ``moment`` (all of them when None), newest first."""
        return [review for review in self.reviews if moment is None or review.created_at <= moment]

    def review(self, review_id: int) -> Review | None:
        return next((review for review in self.reviews if review.id == review_id), None)

    def answered(self, answer_id: int) -> Review | None:
        return next((review for review in self.reviews if review.answer and review.answer["id"] == answer_id),
                    None)

    def answer(self, review: Review, text: str, created_at: int) -> dict[str, Any]:
        """A new answer, in moderation as Avito puts every new one."""
        review.answer = {"id": self._new_answer_id(), "text": text, "status": "moderation",
                         "createdAt": created_at, "reject_reasons": []}
        return review.answer

    def moderate(self, answer_id: int, status: str, reason: dict[str, Any] | None = None) -> dict[str, Any]:
        """Test helper: Avito's moderation publishes or rejects an answer."""
        if status not in ANSWER_STATUSES:
            raise ValueError(f"answer status must be one of {', '.join(ANSWER_STATUSES)}, got {status!r}")
        review = self.answered(answer_id)
        if review is None or review.answer is None:
            raise KeyError(f"no answer {answer_id}")
        review.answer["status"] = status
        review.answer["reject_reasons"] = [reason or REJECT_REASON] if status == "rejected" else []
        return review.answer

    def _new_answer_id(self) -> int:
        self._next_answer_id += 1
        return self._next_answer_id - 1

    def _draw(self) -> list[Review]:
        world, rng = self._world, self._rng
        today = world.today.toordinal()
        scores = [score for score, weight in SCORE_WEIGHTS for _ in range(weight)]
        reviews: list[Review] = []
        for item in world.items:
            stays = [b for b in world.bookings.get(item.id, [])
                     if b["status"] == "active" and date.fromisoformat(b["check_out"]).toordinal() + 6 < today]
            picked = [stay for stay in stays if rng.random() < REVIEW_SHARE][-MAX_REVIEWS_PER_ITEM:]
            for stay in picked:
                score = rng.choice(scores)
                sent_day = date.fromisoformat(stay["check_out"]).toordinal() + 1 + rng.randrange(6)
                created_at = world.anchor - (today - sent_day) * 86400 + 3 * 3600 + rng.randrange(3600)
                images = []
                if rng.random() < 0.15:
                    images = [{"number": n, "sizes": [
                        {"size": size, "url": f"https://img.example.avito.st/reviews/{item.id}/{n}/{size}.jpg"}
                        for size in ("100x100", "640x480")]} for n in range(1, 2 + rng.randrange(3))]
                reviews.append(Review(
                    id=0, score=score, stage="done", text=rng.choice(TEXTS[score]), created_at=created_at,
                    sender_name=stay["contact"]["name"].split()[0], item_id=item.id, item_title=item.title,
                    used_in_score=True, images=images))
        reviews.sort(key=lambda review: (review.created_at, review.item_id))
        for number, review in enumerate(reviews, start=1):
            review.id = 92_000_000 + number
        self._draw_answers(reviews, rng)
        return reviews[::-1]

    def _draw_answers(self, reviews: list[Review], rng: random.Random) -> None:
        recent = self._world.anchor - 3 * 86400
        for review in reviews:
            if rng.random() < 0.5:
                continue
            created_at = review.created_at + 3600 * (1 + rng.randrange(72))
            if created_at > self._world.anchor:
                continue
            status = "moderation" if created_at > recent else "published"
            review.answer = {"id": self._new_answer_id(), "text": rng.choice(ANSWERS), "status": status,
                             "createdAt": created_at, "reject_reasons": []}
        published = [review for review in reviews if review.answer and review.answer["status"] == "published"]
        if published:
            rejected = published[len(published) // 2].answer
            assert rejected is not None
            rejected.update(status="rejected", reject_reasons=[REJECT_REASON], text="Сами вы такие!")
