"""Helpers for the browser tests (Debian's Chromium is found by ``helpers.require_chromium``): JupyterLab
started on loopback for a folder and stopped with its kernels, and a notebook opened and run in it."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-dev-shm-usage"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Lab:
    url: str
    token: str
    root: Path

    def notebook_url(self, name: str) -> str:
        # reset: a fresh workspace, not the tabs a previous test left open
        return f"{self.url}/lab/tree/{name}?reset&token={self.token}"


@contextmanager
def jupyter_lab(root: Path, home: Path, env: Mapping[str, str], timeout: float = 60.0) -> Iterator[Lab]:
    """JupyterLab serving ``root`` on a free loopback port with a random token, with Jupyter's settings,
    workspaces and runtime files under ``home``; stopped (with its kernels) on exit."""
    port, token = free_port(), secrets.token_hex(16)
    settings = home / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    lab_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AVITO_")},
        "JUPYTER_PLATFORM_DIRS": "1",
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "lab-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        **env,
    }
    command = [sys.executable, "-m", "jupyterlab", "--allow-root", "--no-browser", "--ip=127.0.0.1",
               f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={root}", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    log = (home / "jupyterlab.log").open("wb")
    process = subprocess.Popen(command, env=lab_env, stdout=log, stderr=subprocess.STDOUT, cwd=root,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited: {(home / 'jupyterlab.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"JupyterLab did not start: {(home / 'jupyterlab.log').read_text()[-2000:]}")
            time.sleep(0.25)
        yield Lab(url, token, root)
    finally:
        # The server and the kernels it started share its session: end that group, and nothing else.
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=5)
        log.close()


def copy_notebooks(source: Path, project: Path) -> Path:
    """``project/notebooks``: a copy of the notebooks, whose parent the notebooks take as the project root."""
    target = project / "notebooks"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return target


def open_and_run_all(page, lab: Lab, name: str, ready_selector: str, shots: Path, timeout: float = 90_000) -> None:
    """Open a notebook, wait for its kernel, run all cells and wait for ``ready_selector`` and an idle kernel.
    On a failure the page is saved to ``shots`` as ``<name>-failed.png``."""
    try:
        page.goto(lab.notebook_url(name))
        wait_kernel_idle(page, timeout)
        page.locator(".lm-MenuBar-item", has_text="Run").first.click()
        page.locator(".lm-Menu-item", has_text="Run All Cells").first.click()
        page.locator(ready_selector).first.wait_for(timeout=timeout)
        wait_kernel_idle(page, timeout)
    except Exception:
        page.screenshot(path=shots / f"{Path(name).stem}-failed.png")
        raise


def wait_kernel_idle(page, timeout: float) -> None:
    """The status bar says the notebook's kernel is idle (it says "Initializing" while the kernel starts)."""
    page.locator(".jp-StatusBar-Widget", has_text="| Idle").first.wait_for(timeout=timeout)
    page.locator(".jp-NotebookPanel .jp-CodeCell").first.wait_for(timeout=timeout)


def screenshot_dir(default: Path) -> Path:
    """Where screenshots go: ``$AVITO_KIT_SCREENSHOTS`` when set (to look at them), else ``default``."""
    folder = Path(os.environ.get("AVITO_KIT_SCREENSHOTS") or default)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
