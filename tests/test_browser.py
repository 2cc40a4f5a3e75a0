"""The notebooks as a host uses them: JupyterLab in Chromium, the API a sandbox served over loopback HTTP.

One sandbox server and one JupyterLab (on a copy of notebooks/) serve both tests. In 03_inbox a reply is typed,
sent and confirmed; in 04_calendar a range is blocked and confirmed; in 05_prices nights picked in the calendar
are priced and confirmed; in 06_reviews a review is answered and confirmed; each time the sandbox must hold the write
and the store's audit log its row. Screenshots of the widgets go to ``$AVITO_KIT_SCREENSHOTS`` when set.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from avito_kit.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, Sandbox
from avito_kit.store import Store

from .browser_support import CHROMIUM_ARGS, copy_notebooks, jupyter_lab, open_and_run_all, screenshot_dir
from .helpers import require_chromium

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
TIMEOUT = 90_000  # ms


@pytest.fixture(scope="module")
def chromium_path():
    return require_chromium()


@pytest.fixture(scope="module")
def sandbox():
    return Sandbox(seed=5, n_items=6, n_chats=30)


@pytest.fixture(scope="module")
def env(sandbox, tmp_path_factory, chromium_path):
    home = tmp_path_factory.mktemp("lab")
    with sandbox.serve() as server:
        yield {
            "home": home,
            "db": home / "avito.duckdb",
            "vars": {"AVITO_BASE_URL": server.base_url, "AVITO_CLIENT_ID": SANDBOX_CLIENT_ID,
                     "AVITO_CLIENT_SECRET": SANDBOX_CLIENT_SECRET, "AVITO_KIT_DB": str(home / "avito.duckdb"),
                     "AVITO_KIT_TOKEN_CACHE": str(home / "token.json")},
        }


@pytest.fixture(scope="module")
def lab(env):
    project = env["home"] / "project"
    root = copy_notebooks(NOTEBOOKS, project)
    with jupyter_lab(root, env["home"], env["vars"]) as lab:
        yield lab


@pytest.fixture(scope="module")
def browser(lab, chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    try:
        yield page
    finally:
        context.close()


def test_reply_in_the_inbox_notebook(page, lab, env, sandbox, tmp_path):
    from playwright.sync_api import expect

    shots = screenshot_dir(tmp_path)
    open_and_run_all(page, lab, "03_inbox.ipynb", ".avito-inbox .avito-chat-list select", shots)
    inbox = page.locator(".avito-inbox")
    expect(inbox.locator(".avito-status")).to_contain_text("Чатов")
    inbox.locator(".avito-chat-list select").select_option(index=0)
    expect(inbox.locator(".avito-chat-header")).to_contain_text("·")
    text = "Здравствуйте! Квартира свободна, жду вас."
    inbox.locator(".avito-reply-text textarea").fill(text)
    expect(inbox.locator(".avito-counter")).to_contain_text(f"{len(text)} / 1000")
    inbox.locator("button.avito-send").click()
    expect(inbox.locator(".avito-preview")).to_contain_text(text)
    inbox.screenshot(path=shots / "03_inbox_confirm.png")
    sent_before = [r for r in sandbox.requests if r.operation == "postSendMessage"]
    assert sent_before == []  # nothing before Confirm
    inbox.locator("button.avito-confirm").dblclick()  # a double click sends once
    expect(inbox.locator(".avito-status")).to_contain_text("Отправлено в")
    expect(inbox.locator(".avito-conversation")).to_contain_text(text)
    inbox.scroll_into_view_if_needed()
    inbox.screenshot(path=shots / "03_inbox.png")

    audit = Store(env["db"]).audit_log().query("action == 'reply'")
    assert audit[["outcome"]].values.tolist() == [["ok"]]
    chat_id = audit.iloc[0]["target"]
    assert sandbox.chats[chat_id].messages[-1]["content"] == {"text": text}
    assert len([r for r in sandbox.requests if r.operation == "postSendMessage"]) == 1


def test_block_in_the_calendar_notebook(page, lab, env, sandbox, tmp_path):
    from playwright.sync_api import expect

    shots = screenshot_dir(tmp_path)
    open_and_run_all(page, lab, "04_calendar.ipynb", ".avito-calendar .avito-calendar-grid table", shots)
    calendar = page.locator(".avito-calendar")
    item = min((i for i in sandbox.items if i.status == "active"), key=lambda i: i.id)  # the default listing
    first, last = free_nights(sandbox, item.id)
    calendar.locator(".avito-date-from input").fill(first.isoformat())
    calendar.locator(".avito-date-to input").fill(last.isoformat())
    calendar.locator(".avito-block-comment input").fill("ремонт")
    calendar.locator("button.avito-block").click()
    expect(calendar.locator(".avito-preview")).to_contain_text(
        f"Закрыть даты объявления {item.id}: ночи {first:%d.%m.%Y}")
    calendar.screenshot(path=shots / "04_calendar_preview.png")
    assert not [r for r in sandbox.requests if r.operation == "putBookingsInfo"]
    calendar.locator("button.avito-confirm").click()
    expect(calendar.locator(".avito-status")).to_contain_text("Закрыты ночи")
    expect(calendar.locator(f"td[data-date='{first.isoformat()}']")).to_have_attribute("data-state", "blocked")
    calendar.scroll_into_view_if_needed()
    calendar.screenshot(path=shots / "04_calendar.png")

    assert {"date_start": first.isoformat(), "date_end": last.isoformat(), "type": "manual",
            "comment": "ремонт"} in sandbox.blocks[item.id]
    audit = Store(env["db"]).audit_log().query("action == 'calendar_block'")
    assert audit[["target", "outcome"]].values.tolist() == [[str(item.id), "ok"]]


def test_pull_linked_calendars_from_the_calendar_widget(page, lab, env, sandbox, tmp_path):
    """Issue 15's widget flow: a listing linked to an Airbnb-like feed; "Подтянуть связанные календари" previews
    the other platform's closures, nothing is sent before Confirm, then one push, audited."""
    from playwright.sync_api import expect

    shots = screenshot_dir(tmp_path)
    item = max((i for i in sandbox.items if i.status == "active"), key=lambda i: i.id)
    run_one_cell(page, lab, "pull_links.ipynb", (
        "from avito_kit import Store, open_client\n"
        "from avito_kit.dates import avito_today\n"
        "from avito_kit.sandbox.feeds import sample_feed\n"
        "from avito_kit.sync import sync\n"
        "from avito_kit.widgets import CalendarWidget\n"
        "client, store = open_client(), Store()\n"
        "if store.counts()['items'] == 0:\n"
        "    await sync(client, store)\n"
        "feed = store.path.parent / 'airbnb-browser-test.ics'\n"
        "feed.write_bytes(sample_feed('airbnb', avito_today()))\n"
        f"store.link_calendar({item.id}, 'Airbnb-browser', str(feed))\n"
        f"CalendarWidget(client, store, item_id={item.id})"
    ), ".avito-calendar button.avito-pull-links", shots)
    calendar = page.locator(".avito-calendar")
    pushes_before = len([r for r in sandbox.requests if r.operation == "putBookingsInfo"])
    calendar.locator("button.avito-pull-links").click()
    expect(calendar.locator(".avito-preview")).to_contain_text(f"Связанные календари объявления {item.id}")
    assert len([r for r in sandbox.requests if r.operation == "putBookingsInfo"]) == pushes_before
    calendar.locator("button.avito-confirm").dblclick()  # a double click sends once
    expect(calendar.locator(".avito-status")).to_contain_text("Закрытия других площадок")
    calendar.screenshot(path=shots / "pull_links.png")

    pushes = [r for r in sandbox.requests if r.operation == "putBookingsInfo"]
    assert len(pushes) == pushes_before + 1 and str(item.id) in pushes[-1].path
    audit = Store(env["db"]).audit_log().query(f"action == 'calendar_pull' and target == '{item.id}'")
    assert audit.outcome.tolist() == ["ok"]


def free_nights(sandbox: Sandbox, item_id: int, nights: int = 3) -> tuple[dt.date, dt.date]:
    """The first ``nights`` nights from 10 days ahead that no active or pending booking touches."""
    busy = [(dt.date.fromisoformat(b["check_in"]), dt.date.fromisoformat(b["check_out"]))
            for b in sandbox.bookings(item_id) if b["status"] in ("active", "pending")]
    day = sandbox.today + dt.timedelta(days=10)
    while any(a < day + dt.timedelta(days=nights) and b > day for a, b in busy):
        day += dt.timedelta(days=1)
    return day, day + dt.timedelta(days=nights)


def test_sync_button_in_the_explore_notebook(page, lab, env, sandbox, tmp_path):
    from playwright.sync_api import expect

    shots = screenshot_dir(tmp_path)
    open_and_run_all(page, lab, "01_sync_and_explore.ipynb", ".avito-sync-button button.avito-sync", shots)
    runs_before = len(Store(env["db"]).sync_runs())
    sync_box = page.locator(".avito-sync-button")
    sync_box.locator("button.avito-sync").click()
    expect(sync_box.locator(".avito-sync-report")).to_contain_text("Synced account", timeout=TIMEOUT)
    expect(sync_box.locator(".avito-sync-progress .progress-bar-success")).to_be_visible()
    sync_box.scroll_into_view_if_needed()
    sync_box.screenshot(path=shots / "01_sync_button.png")
    runs = Store(env["db"]).sync_runs()
    assert len(runs) == runs_before + 1 and runs["status"].iloc[-1] == "ok"


def test_dashboard_in_the_report_notebook(page, lab, env, tmp_path):
    from playwright.sync_api import expect

    shots = screenshot_dir(tmp_path)
    open_and_run_all(page, lab, "02_occupancy_revenue_report.ipynb", ".avito-dashboard .avito-kpi-cards", shots)
    dashboard = page.locator(".avito-dashboard")
    expect(dashboard.locator(".avito-kpi")).to_have_count(8)
    expect(dashboard.locator(".js-plotly-plot")).to_have_count(2)
    dashboard.locator(".avito-period select").select_option(label="Следующие 30 ночей")
    expect(dashboard.locator(".avito-status")).to_contain_text(f"Ночи {dt.date.today():%d.%m.%Y} –")
    page.set_viewport_size({"width": 1400, "height": 2200})  # the whole dashboard in one picture
    dashboard.scroll_into_view_if_needed()
    dashboard.screenshot(path=shots / "02_dashboard.png")
    assert (Path(lab.root).parent / "reports" / "avito_report.html").exists()


def run_one_cell(page, lab, name: str, source: str, ready_selector: str, shots: Path) -> None:
    """A notebook ``name`` of one code cell ``source`` (with 03_inbox's kernel metadata), opened and run."""
    import nbformat

    notebook = nbformat.read(NOTEBOOKS / "03_inbox.ipynb", as_version=4)
    notebook.cells = [nbformat.v4.new_code_cell(source)]
    nbformat.write(notebook, lab.root / name)
    open_and_run_all(page, lab, name, ready_selector, shots)


def test_run_works_in_a_jupyterlab_cell(page, lab, env, sandbox, tmp_path):
    """``run(client.get_chats())`` from a cell, inside the kernel's running loop, twice (the README's example):
    the seed's defaults, the u2i chats only."""
    from playwright.sync_api import expect

    u2i = sum(chat.type == "u2i" for chat in sandbox.chats.values())

    run_one_cell(page, lab, "run_check.ipynb", (
        "from avito_kit import open_client, run\n"
        "client = open_client()\n"
        "first = run(client.get_chats())\n"
        "print('chats', len(first), len(run(client.get_chats(unread_only=True))) <= len(first))\n"
        "from avito_kit import Store\n"
        "from avito_kit.sync import sync_now\n"
        "print('synced', sync_now(client, Store(), max_age=None).items)"
    ), ".jp-OutputArea-output", screenshot_dir(tmp_path))
    expect(page.locator(".jp-OutputArea-output").first).to_contain_text(f"chats {min(u2i, 50)} True")
    expect(page.locator(".jp-OutputArea-output").last).to_contain_text("synced 6")


def test_price_nights_from_the_calendar_in_the_prices_notebook(page, lab, env, sandbox, tmp_path):
    from playwright.sync_api import expect

    shots = screenshot_dir(tmp_path)
    open_and_run_all(page, lab, "05_prices.ipynb", ".avito-price-action button.avito-price-set", shots)
    calendar, action = page.locator(".avito-calendar"), page.locator(".avito-price-action")
    item = min((i for i in sandbox.items if i.status == "active"), key=lambda i: i.id)  # the notebook's listing
    first, last = free_nights(sandbox, item.id, nights=2)
    first, last = first + dt.timedelta(days=40), last + dt.timedelta(days=40)  # clear of the 04 test's block
    calendar.locator(".avito-date-from input").fill(first.isoformat())
    calendar.locator(".avito-date-to input").fill(last.isoformat())
    action.locator(".avito-price input").fill("6100")
    action.locator(".avito-price input").press("Enter")
    action.locator("button.avito-price-set").click()
    expect(action.locator(".avito-preview")).to_contain_text(f"Цены объявления {item.id}: ночи {first:%d.%m.%Y}")
    expect(action.locator(".avito-preview")).to_contain_text("6\u00a0100\u00a0₽ за ночь")
    assert first not in sandbox.prices.get(item.id, {})  # nothing before Confirm
    action.locator("button.avito-confirm").dblclick()  # a double click sends once
    expect(action.locator(".avito-status")).to_contain_text("Авито принял")
    expect(calendar.locator(f"td[data-date='{first.isoformat()}'] .avito-night-price")).to_contain_text("6\u00a0100")
    action.scroll_into_view_if_needed()
    page.screenshot(path=shots / "05_prices.png")

    assert sandbox.prices[item.id][first]["night_price"] == 6100
    audit = Store(env["db"]).audit_log().query("action == 'price_set'")
    assert audit[["target", "outcome"]].values.tolist() == [[str(item.id), "ok"]]


def test_the_whole_grid_page_by_page_in_a_notebook(page, lab, env, tmp_path):
    """Every listing of the шахматка stays reachable in a notebook: ``occupancy_grid(..., page=, page_size=)``."""
    from playwright.sync_api import expect

    shots = screenshot_dir(tmp_path)
    run_one_cell(page, lab, "grid_pages.ipynb", (
        "import datetime as dt\n"
        "import plotly.graph_objects as go\n"
        "from avito_kit import Store, charts, metrics, open_client\n"
        "from avito_kit.sync import sync_now\n"
        "store = Store()\n"
        "sync_now(open_client(), store, max_age=None)\n"
        "today = dt.date.today()\n"
        "facts = metrics.grid(store, today, today + dt.timedelta(days=29))\n"
        "pages = charts.grid_pages(facts, page_size=2)\n"
        "print('listings', facts.item_id.nunique(), 'pages', pages)\n"
        "go.FigureWidget(charts.occupancy_grid(facts, page=pages, page_size=2))  # the last page"
    ), ".js-plotly-plot", shots)
    printed = page.locator(".jp-OutputArea-output", has_text="pages").first.inner_text()
    listings, pages = (int(n) for n in re.search(r"listings (\d+) pages (\d+)", printed).groups())
    assert pages == (listings + 1) // 2 >= 2
    first = 2 * pages - 1
    plot = page.locator(".js-plotly-plot").first
    rows = f"объявления {first}–{listings}" if listings > first else f"объявление {first}"
    expect(plot).to_contain_text(f"страница {pages} из {pages}: {rows} из {listings}")
    expect(plot.locator(".heatmaplayer image, .hm image").first).to_be_attached()
    plot.screenshot(path=shots / "05_grid_page.png")


def test_answer_a_review_in_the_reviews_notebook(page, lab, env, sandbox, tmp_path):
    from playwright.sync_api import expect

    shots = screenshot_dir(tmp_path)
    open_and_run_all(page, lab, "06_reviews.ipynb", ".avito-reviews .avito-review-list select", shots)
    reviews = page.locator(".avito-reviews")
    expect(reviews.locator(".avito-status")).to_contain_text("без ответа")
    reviews.locator(".avito-review-list select").select_option(index=0)  # waiting for an answer: listed first
    expect(reviews.locator(".avito-review")).to_contain_text("оценка")
    text = "Спасибо за отзыв! Будем рады видеть вас снова."
    reviews.locator(".avito-answer-text textarea").fill(text)
    reviews.locator("button.avito-send").click()
    expect(reviews.locator(".avito-preview")).to_contain_text(text)
    assert [r for r in sandbox.requests if r.operation == "createReviewAnswerV1"] == []  # nothing before Confirm
    reviews.locator("button.avito-confirm").dblclick()  # a double click sends once
    expect(reviews.locator(".avito-status")).to_contain_text("Ответ отправлен")
    expect(reviews.locator(".avito-review")).to_contain_text("на модерации")
    reviews.scroll_into_view_if_needed()
    reviews.screenshot(path=shots / "06_reviews.png")

    audit = Store(env["db"]).audit_log().query("action == 'review_answer'")
    assert audit[["outcome"]].values.tolist() == [["ok"]]
    review = sandbox.reviews.review(int(audit.iloc[0]["target"]))
    assert review.answer["text"] == text
    assert len([r for r in sandbox.requests if r.operation == "createReviewAnswerV1"]) == 1
