"""What every widget shares: writes run one at a time as event-loop tasks, a status line, errors routed to an
``output`` area, and the confirm step (a preview with Confirm and Cancel) every write goes through."""

from __future__ import annotations

import asyncio
import concurrent.futures
import html
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import ipywidgets as widgets

from ..actions import refusal_text
from ..errors import AvitoError
from ..store import Store

__all__ = ["ActionWidget", "auto_layout", "classed", "confirm_step", "listing_options", "plan_html"]

_ITEM_STATUS = {"old": "в архиве", "removed": "удалено", "blocked": "заблокировано", "rejected": "отклонено"}


def plan_html(plan: Any) -> str:
    """A plan's preview (``plan.describe()``) as HTML. JupyterLab's output CSS breaks a <pre> inside any word:
    wrap the Russian lines at spaces only."""
    return ("<pre style='margin:0;white-space:pre-wrap;word-break:normal;overflow-wrap:break-word'>"
            f"{html.escape(plan.describe())}</pre>")


class ActionWidget(widgets.VBox):
    """A box whose writes run one at a time as event-loop tasks, with a status line and an error ``output``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.status = classed(widgets.HTML(), "avito-status")
        self.output = classed(widgets.Output(layout=widgets.Layout(max_height="240px", overflow="auto")),
                              "avito-output")
        self.pending: asyncio.Future | concurrent.futures.Future | None = None  # the write in flight (tests await)
        self._tasks: set = set()  # strong references: the loop keeps only weak ones
        # The loop of the cell that built the widget, which the client's connections and locks belong to.
        # JupyterLab may deliver widget messages on a kernel subshell, a thread with a loop of its own:
        # a write must still run on this loop.
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None

    @property
    def busy(self) -> bool:
        return self.pending is not None and not self.pending.done()

    async def wait_idle(self) -> None:
        """Wait until the write in flight (if any) has finished; its errors are already in ``output``."""
        while self.busy:
            pending = self.pending
            if isinstance(pending, concurrent.futures.Future):
                pending = asyncio.wrap_future(pending)
            await asyncio.wait({pending})

    def _show_confirm(self, pending: bool) -> None:
        """Confirm and Cancel usable, and their box shown, while a write awaits confirmation."""
        self.confirm_button.disabled = self.cancel_button.disabled = self.busy or not pending
        self.confirm_box.layout.display = "flex" if pending else "none"

    def _launch(self, make: Callable[[], Awaitable[Any]]) -> asyncio.Future | concurrent.futures.Future | None:
        """Run ``make()`` as a task on the widget's loop (the kernel's); ignored while another write runs."""
        if self.busy:
            self._say("Подождите: предыдущее действие ещё выполняется…", "warn")
            return None
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        loop = self._loop if self._loop is not None and not self._loop.is_closed() else current
        if loop is None:  # plain Python, no loop anywhere: run it to completion here
            from ..aio import run

            run(self._guarded(make))
            return None
        if loop is current:
            task: asyncio.Future | concurrent.futures.Future = loop.create_task(self._guarded(make))
        else:
            task = asyncio.run_coroutine_threadsafe(self._guarded(make), loop)
        self.pending = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._sync_controls()
        return task

    async def _guarded(self, make: Callable[[], Awaitable[Any]]) -> None:
        try:
            await make()
        except Exception as exc:  # shown, not raised: nobody awaits a button's task
            self._show_error(exc)
        finally:
            self._finish()

    def _finish(self) -> None:
        # Called from inside the task: `busy` is still true until it returns, so clear it first.
        self.pending = None
        try:
            self._sync_controls()
        except Exception as exc:
            self._show_error(exc)

    def _routed(self, handler: Callable[..., Any]) -> Callable[..., None]:
        """Wrap a callback so an exception reaches ``output`` instead of the kernel's log."""

        def call(*args: Any) -> None:
            try:
                handler(*args)
            except Exception as exc:
                self._show_error(exc)

        return call

    def _show_error(self, exc: BaseException) -> None:
        expected = isinstance(exc, AvitoError | ValueError | OSError)
        text = f"{type(exc).__name__}: {exc}\n" if expected else "".join(traceback.format_exception(exc))
        self.output.append_stderr(text)
        self._say(refusal_text(exc) or f"Ошибка: {exc}", "error")

    def _say(self, text: str, kind: str = "info") -> None:
        color = {"info": "#1b5e20", "warn": "#8a6d00", "error": "#b71c1c"}[kind]
        self.status.value = f'<span style="color:{color}">{html.escape(text)}</span>'

    def _sync_controls(self) -> None:
        """Set every control's enabled state from the widget's state."""


def confirm_step() -> tuple[widgets.HTML, widgets.Button, widgets.Button, widgets.VBox]:
    """The preview with Confirm and Cancel that every write of a widget goes through: (preview, confirm, cancel,
    box); the widget shows ``box`` while a write awaits confirmation."""
    preview = classed(widgets.HTML(), "avito-preview")
    confirm = classed(widgets.Button(description="Подтвердить и отправить", button_style="success",
                                     layout=auto_layout()), "avito-confirm")
    cancel = classed(widgets.Button(description="Отмена"), "avito-cancel")
    box = widgets.VBox([preview, widgets.HBox([confirm, cancel])],
                       layout=widgets.Layout(border="1px solid #1565c0", padding="6px"))
    return preview, confirm, cancel, box


def listing_options(store: Store) -> list[tuple[str, int]]:
    """(label, item_id) of every listing, active ones first."""
    items = store.items()
    order = items.assign(inactive=items["status"] != "active").sort_values(["inactive", "item_id"])
    return [(f"{r.title} · {r.item_id}"
             + ("" if r.status == "active" else f" ({_ITEM_STATUS.get(r.status, r.status)})"), int(r.item_id))
            for r in order.itertuples()]


def auto_layout() -> widgets.Layout:
    """A layout as wide as the control's Russian label: ipywidgets cuts a button's at 148px."""
    return widgets.Layout(width="auto")


def classed(widget: widgets.DOMWidget, *classes: str) -> Any:
    """``widget`` with the stable CSS classes browser tests find it by."""
    for name in classes:
        widget.add_class(name)
    return widget
