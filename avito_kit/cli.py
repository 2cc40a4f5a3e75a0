"""``avito-kit``: argument parsing and exit codes only; the work is done by the library.

Exit codes: 0 done; 1 Avito or the database failed after retries; 2 bad input or usage (one line, nothing sent).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

import duckdb

from .aio import run
from .errors import AvitoError, MissingCredentialsError

__all__ = ["build_parser", "main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one clear line and exit 2, as for every other bad input
        self.exit(EXIT_USAGE, f"avito-kit: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="avito-kit", description="Avito toolkit for short-term-rental hosts")
    parser.add_argument("--base-url", help="API root (default: AVITO_BASE_URL or https://api.avito.ru)")
    parser.add_argument("--db", help="DuckDB file (default: AVITO_KIT_DB or data/avito.duckdb)")
    parser.add_argument("--sandbox", action="store_true", help="use the embedded sandbox instead of Avito")
    parser.add_argument("-v", "--verbose", action="store_true", help="log requests (never secrets)")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sync = commands.add_parser("sync", help="read listings, bookings, chats, messages and stats into the store")
    sync.add_argument("--from", dest="date_from", help="first night, YYYY-MM-DD (default: a year ago)")
    sync.add_argument("--to", dest="date_to", help="last night, YYYY-MM-DD (default: a year ahead)")
    sync.add_argument("--full", action="store_true", help="read every listing's bookings and the stats again, "
                      "even those read in the last 15 minutes")
    sync.add_argument("--no-progress", action="store_true")

    calendar = commands.add_parser("calendar", help="close or open dates of a listing")
    actions = calendar.add_subparsers(dest="action", required=True, parser_class=_Parser)
    for name, text in (("block", "close nights FROM <= night < TO"), ("open", "open nights FROM <= night < TO")):
        action = actions.add_parser(name, help=text)
        action.add_argument("item_id", metavar="ITEM_ID")
        action.add_argument("date_from", metavar="FROM")
        action.add_argument("date_to", metavar="TO")
        if name == "block":
            action.add_argument("--comment")
        else:
            action.add_argument("--first-push", action="store_true",
                                help="confirm the listing's first full-year push from avito_kit (it opens the dates "
                                "closed in the Avito cabinet, which avito_kit cannot see)")
        action.add_argument("--yes", action="store_true", help="send without asking")
    link = actions.add_parser("link", help="link another platform's iCal feed (URL or file) to a listing")
    link.add_argument("item_id", metavar="ITEM_ID")
    link.add_argument("source", metavar="URL_OR_FILE")
    link.add_argument("--name", help="the source's name shown on closures (default: the link's host or file name)")
    unlink = actions.add_parser("unlink", help="forget a linked feed and its closures")
    unlink.add_argument("item_id", metavar="ITEM_ID")
    unlink.add_argument("name", metavar="NAME")
    links = actions.add_parser("links", help="list the linked feeds, when each was read and its last error")
    links.add_argument("item_id", metavar="ITEM_ID", nargs="?")
    pull = actions.add_parser("pull", help="read the linked feeds and push the closures to Avito when they changed; "
                              "exit 1 when any link failed (the others still processed)")
    pull.add_argument("item_id", metavar="ITEM_ID", nargs="?", help="one listing (default: every linked listing)")
    pull.add_argument("--yes", action="store_true", help="send without asking (for cron)")
    export = actions.add_parser("export", help="write a listing's bookings and closures as an iCal file")
    export.add_argument("item_id", metavar="ITEM_ID", nargs="?", help="one listing (default: all, into --out DIR)")
    export.add_argument("--out", required=True, help="FILE.ics for one listing, a folder for all")
    export.add_argument("--with-names", action="store_true", help="put guests' names in the events")

    price = commands.add_parser("price", help="set or show a listing's nightly prices")
    price_actions = price.add_subparsers(dest="action", required=True, parser_class=_Parser)
    price_set = price_actions.add_parser("set", help="price nights FROM <= night < TO")
    price_set.add_argument("item_id", metavar="ITEM_ID")
    price_set.add_argument("date_from", metavar="FROM")
    price_set.add_argument("date_to", metavar="TO")
    price_set.add_argument("price", metavar="PRICE", type=int, help="rubles per night")
    price_set.add_argument("--min-stay", type=int, help="minimum nights of a stay starting on these nights")
    price_set.add_argument("--extra-guest-fee", type=int, help="rubles per extra guest")
    price_set.add_argument("--yes", action="store_true", help="send without asking")
    price_show = price_actions.add_parser("show", help="the nightly prices avito_kit pushed, and where they came from")
    price_show.add_argument("item_id", metavar="ITEM_ID")
    price_show.add_argument("--from", dest="date_from", help="first night, YYYY-MM-DD (default: today)")
    price_show.add_argument("--to", dest="date_to", help="night after the last, YYYY-MM-DD (default: 30 days on)")
    price_show.add_argument("--json", action="store_true", help="a JSON array of nights instead of a table")

    listing = commands.add_parser("listing", help="set a listing's base parameters")
    listing_actions = listing.add_subparsers(dest="action", required=True, parser_class=_Parser)
    listing_set = listing_actions.add_parser("set", help="send the base parameters given (the others unchanged)")
    listing_set.add_argument("item_id", metavar="ITEM_ID")
    listing_set.add_argument("--night-price", type=int, help="rubles per night where no period price is set")
    listing_set.add_argument("--min-stay", type=int, help="minimum nights, 1..7")
    listing_set.add_argument("--instant", choices=("on", "off"), help="instant booking")
    listing_set.add_argument("--instant-min-days", type=int, help="instant booking from N days before check-in")
    listing_set.add_argument("--instant-max-days", type=int, help="instant booking up to N days before check-in")
    listing_set.add_argument("--discount", action="append", metavar="NIGHTS:PERCENT",
                             help="a discount from 3, 7 or 30 nights; repeat for each (the full set is sent)")
    listing_set.add_argument("--refund-days", type=int, help="free cancellation up to N days before check-in")
    listing_set.add_argument("--extra-guest-fee", type=int, help="rubles per guest above the threshold")
    listing_set.add_argument("--extra-guest-threshold", type=int, help="guests included in the price, 1..8")
    listing_set.add_argument("--yes", action="store_true", help="send without asking")

    reply = commands.add_parser("reply", help="send a message to a guest")
    reply.add_argument("chat_id", metavar="CHAT_ID")
    reply.add_argument("text", metavar="TEXT")
    reply.add_argument("--yes", action="store_true", help="send without asking")

    review = commands.add_parser("review", help="answer a guest's review, or delete an answer")
    review_actions = review.add_subparsers(dest="action", required=True, metavar="ACTION")
    review_answer = review_actions.add_parser("answer", help="answer review REVIEW_ID (Avito moderates it)")
    review_answer.add_argument("review_id", metavar="REVIEW_ID")
    review_answer.add_argument("text", metavar="TEXT")
    review_delete = review_actions.add_parser("delete-answer", help="delete answer ANSWER_ID")
    review_delete.add_argument("answer_id", metavar="ANSWER_ID")
    for action in (review_answer, review_delete):
        action.add_argument("--yes", action="store_true", help="send without asking")

    kpi = commands.add_parser("kpi", help="occupancy, revenue, ADR, RevPAR for nights FROM..TO (both included)")
    kpi.add_argument("--from", dest="date_from", required=True, help="first night, YYYY-MM-DD")
    kpi.add_argument("--to", dest="date_to", required=True, help="last night, YYYY-MM-DD")
    kpi.add_argument("--by", choices=("item", "total"), default="item")
    kpi.add_argument("--json", action="store_true", help="a JSON array of objects instead of a table")

    metric = commands.add_parser("metric", help="print any metric (metrics' catalog) as a table, JSON or CSV")
    metric.add_argument("name", metavar="NAME", nargs="?", help="the metric; --list names them")
    metric.add_argument("--list", action="store_true", help="name every metric, one line each")
    metric.add_argument("--from", dest="date_from", help="first night (check-in for lead_time, length_of_stay)")
    metric.add_argument("--to", dest="date_to", help="last night, YYYY-MM-DD (both included)")
    metric.add_argument("--by", help="item | total, where the metric takes it (kpis)")
    output = metric.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="a JSON array of records")
    output.add_argument("--csv", action="store_true", help="CSV with a header")

    report = commands.add_parser("report", help="write the offline HTML report")
    report.add_argument("--out", help="the HTML file (default: reports/avito_report.html)")
    report.add_argument("--from", dest="date_from", help="first night of the KPI period (default: 29 days ago)")
    report.add_argument("--to", dest="date_to", help="last night of the KPI period (default: today in Moscow, "
                        "Avito's day)")

    commands.add_parser("demo", help="sync the embedded sandbox into the store and print a summary")

    sandbox = commands.add_parser("sandbox", help="serve the embedded sandbox over HTTP on loopback")
    sandbox.add_argument("--port", type=int, default=8765)
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--seed", type=int, default=0)
    sandbox.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # usage errors (2) and --help (0) return their code like everything else
        return int(exc.code or 0)
    # Retries are logged as warnings; on the command line only -v shows them: a failure is one line.
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR, format="%(levelname)s %(message)s")
    try:
        return _dispatch(args)
    except (ValueError, MissingCredentialsError) as exc:
        print(f"avito-kit: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except (AvitoError, OSError, duckdb.Error) as exc:
        print(f"avito-kit: {_refusal(exc) or _one_line(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _refusal(exc: BaseException) -> str | None:
    """A write Avito refused for a reason the host can act on (402, 409): the line the widgets show too."""
    from .actions import refusal_text

    return refusal_text(exc)


def _confirm(preview: str, yes: bool, *, first_push: bool = False) -> None:
    """Show what will be sent; go on only with --yes or a "y" typed at a terminal. A listing's first full-year
    push (``first_push``) also needs --first-push, or "да" typed to a second question."""
    print(preview)
    if yes and first_push:
        raise ValueError("the first full-year push of this listing from avito_kit opens every date closed in the "
                         "Avito cabinet: add --first-push to confirm; nothing was sent")
    if yes:
        return
    if not sys.stdin.isatty():
        raise ValueError("no terminal to confirm on: add --yes to send")
    if _ask("Отправить в Авито? [y/N] ") not in ("y", "yes", "д", "да"):
        raise ValueError("cancelled: nothing was sent")
    if first_push and _ask("Даты, закрытые в кабинете Авито, откроются. Напишите «да», чтобы подтвердить: ") != "да":
        raise ValueError("cancelled: nothing was sent")


def _ask(prompt: str) -> str:
    try:
        return input(prompt).strip().lower()
    except EOFError:
        return ""


def _accepted(outcome: str) -> str:
    """The host's line once a write went through (Russian, like the previews and the widgets)."""
    return "Авито принял изменения; записано в журнал" if outcome == "ok" else f"Отправлено в Авито, итог: {outcome}"


def _client(args: argparse.Namespace):
    from .auth import AvitoAuth
    from .client import AvitoApiClient
    from .session import open_client

    if args.sandbox:  # even with credentials set
        return open_client(sandbox=_sandbox())
    return AvitoApiClient(AvitoAuth(base_url=args.base_url))  # missing credentials: one line, exit 2


def _sandbox():
    from .sandbox import sandbox_from_env
    from .session import EMBEDDED_SWITCHES

    return sandbox_from_env(**EMBEDDED_SWITCHES)


def _db_path(args: argparse.Namespace) -> Path:
    """The file ``Store(args.db)`` opens, to know whether it exists before opening (and so creating) it."""
    from .store import DEFAULT_DB_PATH

    return Path(args.db or os.environ.get("AVITO_KIT_DB") or DEFAULT_DB_PATH).expanduser()


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "calendar" and args.action not in ("block", "open"):
        return _calendar_links(args)
    if args.command in ("sync", "calendar", "reply"):
        from .checks import check_chat_id, check_id, check_range, check_text
        from .store import Store
        from .sync import sync_window

        # Every argument is checked before a client, a request or the database is touched.
        if args.command == "sync":
            sync_window(args.date_from, args.date_to, names=("--from", "--to"))
        elif args.command == "calendar":
            check_id(args.item_id, "ITEM_ID")
            check_range(args.date_from, args.date_to, ("FROM", "TO"))
            if not _db_path(args).exists():
                raise ValueError(f"listing {args.item_id} is not in the store ({_db_path(args)} does not exist); "
                                 "run `avito-kit sync` first")
        else:
            check_chat_id(args.chat_id)
            check_text(args.text)
        client = _client(args)  # missing credentials stop here, before the database file is created
        if args.command == "reply":
            _confirm(f"Reply in chat {args.chat_id}:\n{args.text}", args.yes)
        return run(_write_or_sync(args, client, Store(args.db)))
    if args.command in ("kpi", "report"):
        return _read_only(args)
    if args.command in ("price", "listing"):
        return _prices(args)
    if args.command == "metric":
        return _metric(args)
    if args.command == "review":
        return _review(args)
    if args.command == "demo":
        from .demo import run_demo
        from .store import Store

        run(run_demo(Store(args.db)))
        return EXIT_OK
    if args.command == "sandbox":
        from .sandbox import sandbox_from_env, serve_forever
        from .session import EMBEDDED_SWITCHES

        sandbox = sandbox_from_env(seed=args.seed, **EMBEDDED_SWITCHES)
        serve_forever(sandbox, host=args.host, port=args.port, latency=args.latency)
        return EXIT_OK
    raise AssertionError(f"unhandled command {args.command}")


def _calendar_links(args: argparse.Namespace) -> int:
    """``calendar link | unlink | links | pull | export``: linked iCal feeds of other platforms, and the export."""
    from .checks import check_id
    from .feed_fetch import is_url
    from .store import Store

    item_id = None if args.item_id is None else check_id(args.item_id, "ITEM_ID")
    if args.action == "link":
        name = (args.name or (urlsplit(args.source).hostname if is_url(args.source) else Path(args.source).stem) or
                "").strip()
        if not name:
            raise ValueError("name the link with --name")
        if not is_url(args.source) and not Path(args.source).expanduser().is_file():
            raise ValueError(f"{args.source} is neither an http(s) URL nor a file")
    if not _db_path(args).exists():
        raise ValueError(f"no store at {_db_path(args)}: run `avito-kit sync` (or `make demo`) first")
    store = Store(args.db)
    if item_id is not None and not store.has_item(item_id):
        raise ValueError(f"listing {item_id} is not in the store; run `avito-kit sync` first")
    if args.action == "link":
        store.link_calendar(item_id, name, args.source)
        print(f"Календарь «{name}» связан с объявлением {item_id}; `avito-kit calendar pull {item_id}` прочитает его")
        return EXIT_OK
    if args.action == "unlink":
        if not store.unlink_calendar(item_id, args.name):
            raise ValueError(f"listing {item_id} has no link named {args.name!r}")
        print(f"Календарь «{args.name}» отвязан от объявления {item_id}; его закрытия забыты")
        return EXIT_OK
    if args.action == "links":
        from .tables import links_table

        print(links_table(store.calendar_links(item_id)))
        return EXIT_OK
    if args.action == "export":
        return _export(store, item_id, Path(args.out).expanduser(), args.with_names)
    linked = store.calendar_links(item_id)
    if linked.empty:
        raise ValueError("no linked calendars" + (f" for listing {item_id}" if item_id else "") +
                         "; add one with `avito-kit calendar link ITEM_ID URL_OR_FILE`")
    return run(_pull(args, _client(args), store, sorted({int(i) for i in linked.item_id})))


def _export(store, item_id: int | None, out: Path, with_names: bool) -> int:
    import datetime as dt

    from .actions import export_events
    from .feeds import export_calendar
    from .files import write_atomically

    stamp = dt.datetime.now(dt.UTC).replace(microsecond=0)
    if item_id is None:
        out.mkdir(parents=True, exist_ok=True)
        targets = [(int(i), out / f"{int(i)}.ics") for i in store.items().item_id]
    else:
        targets = [(item_id, out)]
    for target_id, path in targets:
        body = export_calendar(export_events(store, target_id, with_names=with_names),
                               name=f"Авито {target_id}", stamp=stamp)
        write_atomically(path, body)
        print(f"Календарь объявления {target_id} записан: {path}")
    return EXIT_OK


async def _pull(args: argparse.Namespace, client, store, item_ids: list[int]) -> int:
    from . import actions

    failed = []
    async with client:
        for listing in item_ids:
            plan = await actions.plan_pull(store, listing)
            failed += [f"{listing}/{name}: {error}" for name, error in plan.failed.items()]
            if not plan.changed:
                print(plan.describe())
                continue
            _confirm(plan.describe(), args.yes)
            print(_accepted(await actions.apply_pull(client, store, plan)))
    if failed:
        print(f"avito-kit: {len(failed)} linked calendar(s) failed: " + "; ".join(failed), file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _read_only(args: argparse.Namespace) -> int:
    """``kpi`` and ``report``: the store only, no Avito."""
    from .checks import check_range
    from .store import Store

    if args.command == "kpi" or args.date_from or args.date_to:
        check_range(args.date_from or args.date_to, args.date_to or args.date_from, ("--from", "--to"),
                    allow_equal=True)
    if not _db_path(args).exists():
        raise ValueError(f"no store at {_db_path(args)}: run `avito-kit sync` (or `make demo`) first")
    store = Store(args.db)
    if args.command == "report":
        from .report import write_report

        print(f"Отчёт записан: {write_report(store, args.out, args.date_from, args.date_to)}")
        return EXIT_OK
    from .metrics import kpis
    from .tables import kpi_json, kpi_table

    frame = kpis(store, args.date_from, args.date_to, by=args.by)
    if args.json:
        print(kpi_json(frame))
    else:
        titles = dict(zip(*store.items()[["item_id", "title"]].to_dict("list").values(), strict=True))
        print(kpi_table(frame, titles, f"Ночи {args.date_from} … {args.date_to} включительно"))
    return EXIT_OK


def _metric(args: argparse.Namespace) -> int:
    """``metric``: a metrics catalog entry over the store; the catalog checks the options."""
    from .metrics import METRICS
    from .store import Store
    from .tables import metric_csv, metric_json, metric_list

    if args.list:
        print(metric_list({name: metric.summary for name, metric in METRICS.items()}))
        return EXIT_OK
    if args.name not in METRICS:
        raise ValueError(f"unknown metric {args.name!r}; one of: {', '.join(METRICS)}" if args.name else
                         f"name a metric: one of {', '.join(METRICS)} (--list describes them)")
    if not _db_path(args).exists():
        raise ValueError(f"no store at {_db_path(args)}: run `avito-kit sync` (or `make demo`) first")
    frame = METRICS[args.name].compute(Store(args.db), args.date_from, args.date_to, args.by)
    print(metric_json(frame) if args.json else metric_csv(frame) if args.csv else frame.to_string(index=False),
          end="" if args.csv else "\n")
    return EXIT_OK


async def _write_or_sync(args, client, store) -> int:
    from . import actions
    from .sync import DEFAULT_MAX_AGE, sync

    async with client:
        if args.command == "sync":
            progress = not args.no_progress and sys.stderr.isatty()  # bars only for a person watching
            report = await sync(client, store, args.date_from, args.date_to, progress=progress,
                                max_age=None if args.full else DEFAULT_MAX_AGE)
            print(report)
        elif args.command == "calendar":
            if args.action == "block":
                plan = actions.plan_block(store, args.item_id, args.date_from, args.date_to, args.comment)
            else:
                plan = actions.plan_open(store, args.item_id, args.date_from, args.date_to)
            if plan.refused:
                raise ValueError(plan.describe().replace("\n", "; "))
            first_push = plan.availability_payload is not None and plan.first_push and not args.first_push
            _confirm(plan.describe(), args.yes, first_push=first_push)
            print(_accepted(await actions.apply_plan(client, store, plan)))
        else:  # confirmed before the store was opened
            sent = await actions.send_reply(client, store, args.chat_id, args.text)
            print(f"Сообщение {sent.get('id')} отправлено в чат {args.chat_id}")
    return EXIT_OK


def _prices(args: argparse.Namespace) -> int:
    """``price set``, ``price show`` and ``listing set``: every argument checked before the store or Avito."""
    import datetime as dt

    from . import actions
    from .checks import check_id, check_range, parse_date
    from .client import check_prices
    from .dates import avito_today
    from .store import Store

    check_id(args.item_id, "ITEM_ID")
    today = avito_today()
    if args.command == "price" and args.action == "show":
        start = parse_date(args.date_from, "--from") if args.date_from else today
        first, last = check_range(start, args.date_to or start + dt.timedelta(days=30), ("--from", "--to"))
    elif args.command == "price":
        first, last = check_range(args.date_from, args.date_to, ("FROM", "TO"))
        price = {"date_from": first, "date_to": last - dt.timedelta(days=1), "night_price": args.price,
                 "minimal_duration": args.min_stay, "extra_guest_fee": args.extra_guest_fee}
        check_prices([{k: v for k, v in price.items() if v is not None}], today)
    else:
        actions.listing_payload(instant_active_before=False, **_listing_options(args))
    if not _db_path(args).exists():
        raise ValueError(f"listing {args.item_id} is not in the store ({_db_path(args)} does not exist); "
                         "run `avito-kit sync` first")
    if args.command == "price" and args.action == "show":
        return _show_prices(Store(args.db), int(args.item_id), first, last, args.json)
    client = _client(args)
    return run(_push_prices(args, client, Store(args.db)))


def _review(args: argparse.Namespace) -> int:
    """``review answer`` and ``review delete-answer``: arguments checked, then the Russian preview and a
    confirmation, then one audited write."""
    from . import actions
    from .checks import check_answer_text, check_id
    from .store import Store

    if args.action == "answer":
        check_id(args.review_id, "REVIEW_ID")
        check_answer_text(args.text)
    else:
        check_id(args.answer_id, "ANSWER_ID")
    client = _client(args)  # missing credentials stop here, before the database file is created
    store = Store(args.db)
    if args.action == "answer":
        plan = actions.plan_review_answer(store, args.review_id, args.text)
    else:
        plan = actions.plan_delete_review_answer(store, args.answer_id)
    _confirm(plan.describe(), args.yes)
    return run(_send_review(args, client, store))


async def _send_review(args: argparse.Namespace, client, store) -> int:
    from . import actions

    async with client:
        if args.action == "answer":
            created = await actions.send_review_answer(client, store, args.review_id, args.text)
            print(f"Ответ {created.get('id')} отправлен: Авито опубликует его после модерации")
        else:
            await actions.delete_review_answer(client, store, args.answer_id)
            print(f"Ответ {args.answer_id} удалён")
    return EXIT_OK


def _listing_options(args: argparse.Namespace) -> dict:
    discounts = None
    if args.discount:
        discounts = {}
        for text in args.discount:
            nights, _, percent = text.partition(":")
            if not (nights.strip().isdigit() and percent.strip().isdigit()):
                raise ValueError(f"--discount must be NIGHTS:PERCENT such as 7:10, got {text!r}")
            discounts[int(nights)] = int(percent)
    return {"night_price": args.night_price, "minimal_duration": args.min_stay,
            "instant_active": None if args.instant is None else args.instant == "on",
            "instant_min_days": args.instant_min_days, "instant_max_days": args.instant_max_days,
            "discounts": discounts, "refund_days": args.refund_days, "extra_guest_fee": args.extra_guest_fee,
            "extra_guest_threshold": args.extra_guest_threshold}


async def _push_prices(args: argparse.Namespace, client, store) -> int:
    from . import actions

    async with client:
        if args.command == "price":
            plan = actions.plan_prices(store, args.item_id, args.date_from, args.date_to, args.price,
                                       minimal_duration=args.min_stay, extra_guest_fee=args.extra_guest_fee)
            _confirm(plan.describe(), args.yes)
            outcome = await actions.apply_price_plan(client, store, plan)
        else:
            listing_plan = actions.plan_listing(store, args.item_id, **_listing_options(args))
            _confirm(listing_plan.describe(), args.yes)
            outcome = await actions.apply_listing_plan(client, store, listing_plan)
    print(_accepted(outcome))
    return EXIT_OK


def _show_prices(store, item_id: int, first, last, as_json: bool) -> int:
    from .tables import night_prices_json, night_prices_table

    if not store.has_item(item_id):
        raise ValueError(f"listing {item_id} is not in the store; run `avito-kit sync` first")
    frame = store.night_prices(item_id, first, last)
    print(night_prices_json(frame) if as_json else night_prices_table(frame, store.current_base_params(item_id)))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
