"""Jupyter widgets: thin ipywidgets wiring over the client, the store and the actions.

Each widget builds its controls, observes their ``value`` and calls the library: it reads the store and
``metrics`` (what the inbox lists and a night's state are computed there, so the CLI, the report and the widgets
agree), plans with ``actions`` and sends through ``actions.send_reply`` / ``actions.apply_plan`` (which audit
every write). A write runs as a task on the kernel's event loop, so the interface never freezes; while it runs,
the buttons that start one are disabled and a second click is ignored (a double click sends once). Every error,
from a callback or a task, lands in the widget's ``output`` area and its status line, never in the kernel's log
alone.

One module a widget: ``inbox`` (InboxWidget), ``calendar`` (CalendarWidget), ``dashboard`` (Dashboard),
``sync_button`` (SyncButton), ``prices`` (PriceAction, ListingSettingsPanel; ``PriceAction.follow(calendar)``),
``reviews`` (ReviewsWidget);
``base`` holds what they share (the write task, the status line, the confirm step).

>>> inbox = InboxWidget(client, store)     # display(inbox) in a cell
>>> await inbox.wait_idle()                # tests: wait for the write a click started

Stable CSS classes (``avito-reply-text``, ``avito-send``, ``avito-confirm``, ...) are for browser tests.
"""

from __future__ import annotations

from .calendar import CalendarWidget
from .dashboard import Dashboard
from .inbox import TEMPLATES, InboxWidget
from .prices import ListingSettingsPanel, PriceAction
from .reviews import ReviewsWidget
from .sync_button import SyncButton

__all__ = ["TEMPLATES", "CalendarWidget", "Dashboard", "InboxWidget", "ListingSettingsPanel", "PriceAction",
           "ReviewsWidget", "SyncButton"]
