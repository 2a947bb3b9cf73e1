"""`caseload-bot teams package`: the Teams app package to upload in the Teams admin centre
or the Developer Portal.

The package is built whole before anything is written: a bad option is one line on stderr,
exit 2, and no file.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from importlib.metadata import version
from pathlib import Path

from bot.teams.package import (
    DEFAULT_DEVELOPER,
    DEFAULT_NAME,
    PLACEHOLDER_URL,
    Options,
    PackageError,
    package,
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    teams = sub.add_parser("teams", help="Microsoft Teams").add_subparsers(
        dest="cmd", required=True
    )
    command = teams.add_parser(
        "package",
        help="write the Teams app package (manifest.json and the two icons) as a zip",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.add_argument(
        "--app-id", required=True, metavar="ID", help="the Azure Bot's Microsoft App ID"
    )
    command.add_argument("--out", required=True, type=Path, metavar="ZIP", help="the zip to write")
    command.add_argument(
        "--name", default=DEFAULT_NAME, help="the app's name in Teams (30 at most)"
    )
    command.add_argument(
        "--developer-name", default=DEFAULT_DEVELOPER, metavar="NAME", help="e.g. the council"
    )
    command.add_argument(
        "--developer-url",
        default=PLACEHOLDER_URL,
        metavar="URL",
        help="the developer's website, https:// (default: a placeholder; give the council's page)",
    )
    command.add_argument(
        "--privacy-url", metavar="URL", help="the privacy notice (default: --developer-url)"
    )
    command.add_argument(
        "--terms-url", metavar="URL", help="the terms of use (default: --developer-url)"
    )
    command.add_argument(
        "--valid-domain",
        dest="valid_domains",
        action="append",
        default=[],
        metavar="HOST",
        help="a host the app may open (repeat for more)",
    )
    command.add_argument(
        "--manifest-id",
        metavar="ID",
        help="the Teams app's own id, to update an uploaded app (default: a new one)",
    )
    command.add_argument(
        "--app-version",
        metavar="X.Y.Z",
        default=version("caseload-bot"),
        help="MAJOR.MINOR.PATCH; an update must raise it (default: this caseload-bot's version)",
    )
    command.set_defaults(run=run)


def _fail(message: object) -> int:
    print(f"caseload-bot: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    options = Options(
        app_id=args.app_id,
        manifest_id=args.manifest_id or str(uuid.uuid4()),
        version=args.app_version,
        name=args.name,
        developer_name=args.developer_name,
        developer_url=args.developer_url,
        privacy_url=args.privacy_url,
        terms_url=args.terms_url,
        valid_domains=args.valid_domains,
    )
    try:
        data = package(options)
    except PackageError as exc:
        return _fail(exc)
    try:
        args.out.write_bytes(data)
    except OSError as exc:
        return _fail(f"cannot write {args.out}: {exc.strerror or type(exc).__name__}")
    print(
        f"wrote {args.out}: Teams app {options.manifest_id} version {options.version} for bot"
        f" {options.app_id}; to update it later, package again with --manifest-id"
        f" {options.manifest_id} and a higher --app-version",
        file=sys.stderr,
    )
    if args.developer_url == PLACEHOLDER_URL:
        print(
            f"caseload-bot: note: without --developer-url the app's links in Teams point at the"
            f" placeholder {PLACEHOLDER_URL}: give the council's pages (--developer-url,"
            " --privacy-url, --terms-url) before going live",
            file=sys.stderr,
        )
    return 0
