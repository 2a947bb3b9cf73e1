"""`caseload-bot`: one console script, a sub-command per job.

Each area registers its own sub-commands; a command returns an exit code and never lets a
traceback reach the person at the terminal (bad input exits 2 with one line on stderr).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from bot import cli_db, cli_import, cli_policy, cli_serve

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

AREAS: list[Register] = [
    cli_policy.register,
    cli_db.register,
    cli_serve.register,
    cli_import.register,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="caseload-bot", description=__doc__)
    sub = parser.add_subparsers(dest="area", required=True)
    for register in AREAS:
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
