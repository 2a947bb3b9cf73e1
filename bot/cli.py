"""`caseload-bot`: one console script, a sub-command per job.

Each area registers its own sub-commands; a command returns an exit code and never lets a
traceback reach the person at the terminal (bad input exits 2 with one line on stderr).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from bot import cli_policy

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

POLICY_ONLY = ("policy", "demo")
"""Commands that need only the policy engine: they start without loading the database
and HTTP stacks (a second or more), which matters to scripts that call them per file."""


def areas(argv: Sequence[str]) -> list[Register]:
    if argv[:1] and argv[0] in POLICY_ONLY:
        return [cli_policy.register]
    from bot import cli_db, cli_import, cli_outbox, cli_report, cli_serve, cli_teams

    return [
        cli_policy.register,
        cli_db.register,
        cli_serve.register,
        cli_import.register,
        cli_outbox.register,
        cli_report.register,
        cli_teams.register,
    ]


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="caseload-bot", description=__doc__)
    sub = parser.add_subparsers(dest="area", required=True)
    for register in areas(argv):
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(words).parse_args(words)
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
