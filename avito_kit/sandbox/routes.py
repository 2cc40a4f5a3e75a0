"""The route table: each spec path the sandbox serves, its operationId and the handler that answers it.

Paths exactly as the specs spell them, trailing slashes included (getItemInfo, getMessagesV3).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import api_auth, api_items, api_messenger, api_ratings, api_rent, api_stats

if TYPE_CHECKING:
    from .app import SandboxApp

__all__ = ["ROUTES", "Route", "match"]

Handler = Callable[["SandboxApp", dict[str, str], dict[str, list[str]], Any], tuple[int, Any]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    operation: str  # the spec's operationId
    handler: Handler
    api: str  # the spec file's family: "auth", "user", "items", "rent", "messenger", "stats", "ratings"

    @property
    def family(self) -> str:
        """The error shape: "oauth" (RFC 6749), "items" (top-level string code) or "avito" ({"error": {...}})."""
        return {"auth": "oauth", "items": "items"}.get(self.api, "avito")


def _route(method: str, template: str, operation: str, handler: Handler, api: str) -> Route:
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return Route(method, re.compile(regex + r"\Z"), operation, handler, api)


ROUTES = (
    _route("POST", "/token", "getAccessToken", api_auth.issue_token, "auth"),
    _route("POST", "/token/", "getAccessToken", api_auth.issue_token, "auth"),  # the auth guide's curl uses it
    _route("GET", "/core/v1/accounts/self", "getUserInfoSelf", api_auth.account_self, "user"),
    _route("GET", "/core/v1/items", "getItemsInfo", api_items.list_items, "items"),
    _route("GET", "/core/v1/accounts/{user_id}/items/{item_id}/", "getItemInfo", api_items.item_info, "items"),
    _route("GET", "/realty/v1/accounts/{user_id}/items/{item_id}/bookings", "getRealtyBookings",
           api_rent.list_bookings, "rent"),
    _route("POST", "/core/v1/accounts/{user_id}/items/{item_id}/bookings", "putBookingsInfo", api_rent.put_blocks,
           "rent"),
    _route("POST", "/realty/v1/items/intervals", "putIntervals", api_rent.put_intervals, "rent"),
    _route("POST", "/realty/v1/accounts/{user_id}/items/{item_id}/prices", "postRealtyPrices", api_rent.put_prices,
           "rent"),
    _route("POST", "/realty/v1/items/{item_id}/base", "postBaseParams", api_rent.put_base_params, "rent"),
    _route("GET", "/messenger/v2/accounts/{user_id}/chats", "getChatsV2", api_messenger.list_chats, "messenger"),
    _route("GET", "/messenger/v2/accounts/{user_id}/chats/{chat_id}", "getChatByIdV2", api_messenger.get_chat,
           "messenger"),
    _route("GET", "/messenger/v3/accounts/{user_id}/chats/{chat_id}/messages/", "getMessagesV3",
           api_messenger.list_messages, "messenger"),
    _route("POST", "/messenger/v1/accounts/{user_id}/chats/{chat_id}/messages", "postSendMessage",
           api_messenger.send_message, "messenger"),
    _route("POST", "/messenger/v1/accounts/{user_id}/chats/{chat_id}/read", "chatRead", api_messenger.read_chat,
           "messenger"),
    _route("POST", "/stats/v1/accounts/{user_id}/items", "itemStatsShallow", api_stats.item_stats, "stats"),
    _route("GET", "/ratings/v1/info", "getRatingsInfoV1", api_ratings.rating_info, "ratings"),
    _route("GET", "/ratings/v1/reviews", "getReviewsV1", api_ratings.reviews_page, "ratings"),
    _route("POST", "/ratings/v1/answers", "createReviewAnswerV1", api_ratings.create_answer, "ratings"),
    _route("DELETE", "/ratings/v1/answers/{answer_id}", "removeReviewAnswerV1", api_ratings.remove_answer, "ratings"),
)


def match(method: str, path: str) -> tuple[Route | None, dict[str, str]]:
    """The route serving ``method path`` and its path parameters; (None, {}) for an unknown route."""
    for route in ROUTES:
        if route.method == method:
            found = route.pattern.match(path)
            if found:
                return route, found.groupdict()
    return None, {}
