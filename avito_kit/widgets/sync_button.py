"""The sync button: ``sync.sync`` as one task, with progress and the run's report below the button."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from ..client import AvitoApiClient
from ..store import Store
from ..sync import SyncReport, sync
from .base import ActionWidget, classed

__all__ = ["SyncButton"]


class SyncButton(ActionWidget):
    """A button that syncs the store with Avito, with progress and the report below it.

    tqdm's bars (widgets in Jupyter) are captured in ``output`` where the front end routes output from a task
    to it (Jupyter Notebook, nbclient); JupyterLab 4.6 delivers widget messages on a kernel subshell and drops
    such output, so the button also shows a progress bar of its own.

    >>> SyncButton(client, store, on_done=lambda report: inbox.refresh())
    """

    def __init__(self, client: AvitoApiClient, store: Store, *, date_from: dt.date | str | None = None,
                 date_to: dt.date | str | None = None, progress: bool = True,
                 on_done: Callable[[SyncReport], Any] | None = None,
                 description: str = "Синхронизировать с Авито") -> None:
        super().__init__()
        self.client, self.store = client, store
        self.date_from, self.date_to, self.progress, self.on_done = date_from, date_to, progress, on_done
        self.report: SyncReport | None = None
        self.button = classed(widgets.Button(description=description, icon="refresh", button_style="primary",
                                             layout=widgets.Layout(width="auto", min_width="220px")), "avito-sync")
        self.bar = classed(widgets.IntProgress(value=0, max=1, description="", layout=widgets.Layout(
            width="220px", visibility="hidden")), "avito-sync-progress")
        self.report_view = classed(widgets.HTML(), "avito-sync-report")
        self.children = [widgets.HBox([self.button, self.bar], layout=widgets.Layout(align_items="center")),
                         self.output, self.report_view, self.status]
        self.output.layout.max_height = None
        self.add_class("avito-sync-button")
        self.button.on_click(self._routed(self._on_click))

    def _on_click(self, _button: Any) -> None:
        if self.busy:
            return
        self.output.clear_output()
        self.bar.layout.visibility = "visible"
        self.bar.value, self.bar.bar_style = 0, "info"
        self._say("Синхронизация…", "info")
        self._launch(self._sync)

    async def _sync(self) -> None:
        failure: Exception | None = None
        # Caught inside: in IPython an Output context swallows the exception after showing it.
        with self.output:
            try:
                report = await sync(self.client, self.store, self.date_from, self.date_to, progress=self.progress)
            except Exception as exc:
                failure = exc
        if failure is not None:
            self.bar.bar_style = "danger"
            raise failure
        self.report = report
        self.bar.value, self.bar.bar_style = 1, "success"
        self.report_view.value = f"<pre style='margin:4px 0'>{html.escape(str(report))}</pre>"
        self._say(f"Синхронизировано в {dt.datetime.now():%H:%M}.", "info")
        if self.on_done is not None:
            self.on_done(report)

    def _sync_controls(self) -> None:
        self.button.disabled = self.busy
