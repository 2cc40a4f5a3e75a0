"""Handlers of items.json: the listings list (getItemsInfo) and one listing's info (getItemInfo)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .params import Reject, int_param, list_param

if TYPE_CHECKING:
    from .app import SandboxApp

__all__ = ["ITEM_STATUSES", "item_info", "list_items"]

ITEM_STATUSES = ("active", "removed", "old", "blocked", "rejected")


def list_items(sandbox: SandboxApp, _: dict[str, str], query: dict[str, list[str]], __: Any) -> tuple[int, Any]:
    # getItemsInfo: per_page "целое число больше 0 и меньше 100"; status a comma list, default active.
    per_page = int_param(query, "per_page", 25, 1, 99)
    page = int_param(query, "page", 1, 1, None)
    statuses = list_param(query, "status") or ["active"]
    unknown = [s for s in statuses if s not in ITEM_STATUSES]
    if unknown:  # real accounts: status=all answers 400 "unknown status"
        raise Reject(400, f"unknown status {unknown[0]!r}: use {', '.join(ITEM_STATUSES)}")
    category = int_param(query, "category", None, None, None)
    selected = [item for item in sandbox.listed_items()
                if item.status in statuses and (category is None or category == 24)]
    start = (page - 1) * per_page
    return 200, {"meta": {"page": page, "per_page": per_page},
                 "resources": [item.resource() for item in selected[start:start + per_page]]}


def item_info(sandbox: SandboxApp, path_params: dict[str, str], *_: Any) -> tuple[int, Any]:
    sandbox.check_user(path_params)
    item = sandbox.owned_item(path_params["item_id"])
    moment = sandbox.moment
    return 200, (item if moment is None else item.as_of(datetime.fromtimestamp(moment, UTC))).info()
