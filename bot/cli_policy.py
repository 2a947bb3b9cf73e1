"""`caseload-bot policy …`: decide, entitlements, breaches, lint, explain, test and simulate
from a terminal.

decide / entitlements / breaches read one JSON request, or JSON Lines, on stdin and write
one JSON answer per line. A bad single request exits 2 with one line on stderr; in JSON
Lines mode a bad line yields an error object in its place, the rest are still answered,
and the exit code is 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

from bot.policy_source import read_policy, read_text
from policy import (
    CompiledPolicy,
    InputError,
    PolicyError,
    breaches,
    compile_policy,
    decide,
    entitlements,
    lint_warnings,
    parse_caseload_request,
    parse_decision_request,
    preset_ids,
)
from policy.explain import explain
from policy.suite import parse_suite, run_suite
from policy.views import breaches_json, decision_json, entitlements_json

Answer = Callable[[CompiledPolicy, Any], Mapping[str, Any]]

ANSWERS: dict[str, Answer] = {
    "decide": lambda c, data: decision_json(decide(c, parse_decision_request(data))),
    "entitlements": lambda c, data: entitlements_json(
        entitlements(c, parse_caseload_request(data))
    ),
    "breaches": lambda c, data: breaches_json(breaches(c, parse_caseload_request(data))),
}

SAMPLE_REQUEST: dict[str, Any] = {
    "on": "2026-07-01",
    "worker": {
        "asye_start": "2026-01-05",
        "fte": 1.0,
        "pauses": [{"from": "2026-03-01", "to": "2026-03-31"}],
        "reviews_passed": [3],
    },
    "caseload": [
        {"case_id": "C-1001", "work_type": "child_in_need", "children": 3, "role": "lead"},
        {
            "case_id": "C-1017",
            "work_type": "child_in_care",
            "children": 1,
            "role": "lead",
            "flags": ["settled_placement"],
        },
    ],
    "proposal": {
        "case_id": "C-1042",
        "work_type": "child_protection",
        "children": 2,
        "role": "lead",
    },
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    policy = sub.add_parser("policy", help="check requests against a policy, and check policies")
    commands = policy.add_subparsers(dest="command", required=True)
    for name in ANSWERS:
        p = commands.add_parser(
            name, help=f"{name}: JSON or JSON Lines on stdin, one JSON answer per line"
        )
        p.add_argument("--policy", required=True, metavar="ID_OR_PATH")
        p.set_defaults(
            run=lambda args, name=name: answer_stream(name, args.policy, sys.stdin, sys.stdout)
        )
    lint = commands.add_parser("lint", help="validate a policy file")
    lint.add_argument("path")
    lint.set_defaults(run=lambda args: lint_policy(args.path))
    exp = commands.add_parser("explain", help="the whole policy as a table by phase")
    exp.add_argument("policy", metavar="ID_OR_PATH")
    exp.set_defaults(run=lambda args: explain_policy(args.policy, Console()))
    test = commands.add_parser(
        "test", help="run a YAML file of given/expect cases; exit 1 on any failure"
    )
    test.add_argument("path")
    test.set_defaults(run=lambda args: test_policy(args.path))
    sim = commands.add_parser(
        "simulate",
        help="every NQSW of an organisation under another policy: who would move into or "
        "out of breach, and why (changes nothing)",
    )
    sim.add_argument("--org", required=True)
    sim.add_argument(
        "--policy", required=True, metavar="ID_OR_PATH", help="the proposed policy: preset or file"
    )
    sim.add_argument("--on", type=_day, metavar="YYYY-MM-DD", help="London date (default: today)")
    sim.add_argument("--format", choices=("text", "md", "json"), default="text")
    sim.set_defaults(run=simulate_policy)
    listing = commands.add_parser("list", help="the presets shipped with the product")
    listing.set_defaults(run=lambda args: _print("\n".join(preset_ids())))

    demo = sub.add_parser("demo", help="explain a preset and decide a sample request")
    demo.add_argument("--policy", default="stoke-childrens", metavar="ID_OR_PATH")
    demo.set_defaults(run=lambda args: run_demo(args.policy))


def answer_stream(kind: str, ref: str, stdin: TextIO, stdout: TextIO) -> int:
    try:
        compiled = compile_policy(read_policy(ref)[0])
    except PolicyError as exc:
        return _fail(str(exc))
    text = stdin.read()
    if not text.strip():
        return _fail("stdin: no request; send one JSON object, or JSON Lines")
    answer = ANSWERS[kind]
    single = _single_json(text)
    if single is not _NOT_ONE:
        try:
            stdout.write(_dump(answer(compiled, single)))
        except PolicyError as exc:
            return _fail(str(exc))
        return 0
    bad = 0
    for number, data in _json_lines(text):
        try:
            if isinstance(data, _LineError):
                raise InputError("request", data.message)
            stdout.write(_dump(answer(compiled, data)))
        except PolicyError as exc:
            bad += 1
            field = exc.field if isinstance(exc, InputError) else "request"
            stdout.write(_dump({"error": {"line": number, "field": field, "message": str(exc)}}))
            print(f"line {number}: {exc}", file=sys.stderr)
    return 2 if bad else 0


_NOT_ONE = object()


class _LineError:
    def __init__(self, message: str) -> None:
        self.message = message


def _single_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return _NOT_ONE


def _json_lines(text: str) -> Iterator[tuple[int, Any]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, _LineError(f"not JSON ({exc.msg} at column {exc.colno})")


def _dump(obj: Mapping[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False) + "\n"


def _fail(message: str) -> int:
    print(message.splitlines()[0], file=sys.stderr)
    return 2


def _print(text: str) -> int:
    print(text)
    return 0


def lint_policy(path: str) -> int:
    try:
        policy, _ = read_policy(path)
    except PolicyError as exc:
        return _fail(str(exc))
    print(
        f"{path}: ok: {policy.id} version {policy.version}, {len(policy.gates)} gates, in force from {policy.effective_from}"
    )
    for warning in lint_warnings(policy):
        print(f"{path}: warning: {warning}")
    return 0


def _day(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date; use YYYY-MM-DD") from None


def simulate_policy(args: argparse.Namespace) -> int:
    """The proposed policy is read first, exactly as `lint` reads it: one with a mistake
    stops here, before the database is opened."""
    try:
        proposed = compile_policy(read_policy(args.policy)[0])
    except PolicyError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"{args.policy}: cannot read: {exc.strerror}")
    from bot import cli_simulate  # the database stack, which no other policy command needs

    return cli_simulate.run(proposed, args)


def explain_policy(ref: str, console: Console) -> int:
    try:
        compiled = compile_policy(read_policy(ref)[0])
    except PolicyError as exc:
        return _fail(str(exc))
    view = explain(compiled)
    table = Table(title=view.title, show_lines=False)
    table.add_column("Work type", style="bold")
    for phase in view.phases:
        table.add_column(phase.label)
    for row in view.rows:
        table.add_row(row.label, *row.cells)
    console.print(table)
    rules = Table(title="Rules", show_lines=True)
    for heading in ("Rule", "Clause", "What it means", "Who may override"):
        rules.add_column(heading)
    for rule in view.rules:
        rules.add_row(*rule)
    console.print(rules)
    for line in view.schedules:
        console.print(f"- {line}")
    return 0


def test_policy(path: str) -> int:
    file = Path(path)
    try:
        suite = parse_suite(read_text(file), path)
        target = file.parent / suite.policy
        compiled = compile_policy(read_policy(str(target) if target.is_file() else suite.policy)[0])
    except OSError as exc:
        return _fail(f"{path}: cannot read: {exc.strerror}")
    except PolicyError as exc:
        return _fail(str(exc))
    results = run_suite(compiled, suite)
    for result in results:
        mark = "PASS" if result.passed else "FAIL"
        print(f"{mark} {result.case.name} [{result.case.clause}]")
        for failure in result.failures:
            print(f"     {failure}")
    failed = sum(not r.passed for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


def run_demo(ref: str) -> int:
    console = Console()
    code = explain_policy(ref, console)
    if code:
        return code
    console.print(
        "\n[bold]Sample request[/bold] (an NQSW six months in, one month's leave, asked to lead child protection):"
    )
    console.print_json(json.dumps(SAMPLE_REQUEST))
    compiled = compile_policy(read_policy(ref)[0])
    console.print("[bold]Decision[/bold]")
    console.print_json(
        json.dumps(decision_json(decide(compiled, parse_decision_request(SAMPLE_REQUEST))))
    )
    return 0
