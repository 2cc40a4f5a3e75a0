"""``avito-kit``: argument parsing and exit codes only; the work is done by the library.

Exit codes: 0 done; 1 Avito or the database failed after retries; 2 bad input or usage (one line, nothing sent).
"""

from __future__ import annotations

import argparse
import logging
import sys

from .aio import run
from .errors import AvitoError, MissingCredentialsError

__all__ = ["main"]

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
    sync.add_argument("--no-progress", action="store_true")

    calendar = commands.add_parser("calendar", help="close or open dates of a listing")
    actions = calendar.add_subparsers(dest="action", required=True, parser_class=_Parser)
    for name, text in (("block", "close nights FROM <= night < TO"), ("open", "open nights FROM <= night < TO")):
        action = actions.add_parser(name, help=text)
        action.add_argument("item_id")
        action.add_argument("date_from", metavar="FROM")
        action.add_argument("date_to", metavar="TO")
        if name == "block":
            action.add_argument("--comment")
        action.add_argument("--yes", action="store_true", help="send without asking")

    reply = commands.add_parser("reply", help="send a message to a guest")
    reply.add_argument("chat_id")
    reply.add_argument("text")
    reply.add_argument("--yes", action="store_true", help="send without asking")

    commands.add_parser("demo", help="sync the embedded sandbox into the store and print a summary")

    sandbox = commands.add_parser("sandbox", help="serve the embedded sandbox over HTTP on loopback")
    sandbox.add_argument("--port", type=int, default=8765)
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--seed", type=int, default=0)
    sandbox.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return _dispatch(args)
    except (ValueError, MissingCredentialsError) as exc:
        print(f"avito-kit: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (AvitoError, OSError) as exc:
        print(f"avito-kit: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


def _confirm(preview: str, yes: bool) -> None:
    """Show what will be sent; go on only with --yes or a "y" typed at a terminal."""
    print(preview)
    if yes:
        return
    if not sys.stdin.isatty():
        raise ValueError("no terminal to confirm on: add --yes to send")
    if input("Send this to Avito? [y/N] ").strip().lower() not in ("y", "yes", "д", "да"):
        raise ValueError("cancelled: nothing was sent")


def _client(args: argparse.Namespace):
    from .auth import AvitoAuth
    from .client import AvitoApiClient
    from .session import open_client

    if args.sandbox:
        return open_client(sandbox=_sandbox())
    return AvitoApiClient(AvitoAuth(base_url=args.base_url))  # missing credentials: one line, exit 2


def _sandbox():
    from .sandbox import Sandbox

    return Sandbox()


def _dispatch(args: argparse.Namespace) -> int:
    if args.command in ("sync", "calendar", "reply"):
        from .checks import check_chat_id, check_range, check_text
        from .store import Store

        # Every argument is checked before a client, a request or the database is touched.
        if args.command == "sync" and (args.date_from or args.date_to):
            check_range(args.date_from or args.date_to, args.date_to or args.date_from, ("--from", "--to"),
                        allow_equal=True)
        if args.command == "reply":
            check_chat_id(args.chat_id)
            check_text(args.text)
        store = Store(args.db)
        client = _client(args)
        return run(_write_or_sync(args, client, store))
    if args.command == "demo":
        from .demo import run_demo
        from .store import Store

        run(run_demo(Store(args.db)))
        return EXIT_OK
    if args.command == "sandbox":
        from .sandbox import Sandbox
        from .sandbox.server import serve_forever

        serve_forever(Sandbox(seed=args.seed), host=args.host, port=args.port, latency=args.latency)
        return EXIT_OK
    raise AssertionError(f"unhandled command {args.command}")


async def _write_or_sync(args, client, store) -> int:
    from . import actions
    from .sync import sync

    async with client:
        if args.command == "sync":
            report = await sync(client, store, args.date_from, args.date_to, progress=not args.no_progress)
            print(report)
        elif args.command == "calendar":
            if args.action == "block":
                plan = actions.plan_block(store, args.item_id, args.date_from, args.date_to, args.comment)
            else:
                plan = actions.plan_open(store, args.item_id, args.date_from, args.date_to)
            if plan.conflicts:
                raise ValueError(plan.describe().replace("\n", "; "))
            _confirm(plan.describe(), args.yes)
            print(f"Avito accepted: {await actions.apply_plan(client, store, plan)}")
        else:
            _confirm(f"Reply in chat {args.chat_id}:\n{args.text}", args.yes)
            sent = await actions.send_reply(client, store, args.chat_id, args.text)
            print(f"Sent message {sent.get('id')} in chat {args.chat_id}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
