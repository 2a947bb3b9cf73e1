"""`caseload-bot policy …` run as a real process: the interface other tools and checks call.

Each test starts the console script in a subprocess, feeds it stdin and reads what a
person or a pipeline would see: stdout, stderr and the exit code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from policy import (
    breaches,
    compile_policy,
    decide,
    entitlements,
    load_preset,
    parse_caseload_request,
    parse_decision_request,
)
from policy.views import breaches_json, decision_json, entitlements_json

STOKE = compile_policy(load_preset("stoke-childrens"))
SCRIPT = Path(sys.executable).with_name("caseload-bot")

# The request from the issue: the month-6 review passed and a Complex Working Agreement
# recorded, so child protection may be led; 2 children held plus 1 proposed, cap 16.
ISSUE_REQUEST: dict[str, Any] = {
    "on": "2026-07-01",
    "worker": {
        "asye_start": "2026-01-05",
        "fte": 1.0,
        "pauses": [{"from": "2026-03-01", "to": "2026-05-31"}],
        "reviews_passed": [3, 6],
        "agreements": ["complex_working_agreement"],
    },
    "caseload": [
        {
            "case_id": "C-1",
            "work_type": "child_in_need",
            "children": 2,
            "role": "lead",
            "flags": [],
            "external": False,
        }
    ],
    "proposal": {"case_id": "C-9", "work_type": "child_protection", "children": 1, "role": "lead"},
    "override": None,
}

# Only the required fields: three months in, no reviews passed yet.
EARLY_CP_REQUEST: dict[str, Any] = {
    "on": "2026-04-10",
    "worker": {"asye_start": "2026-01-05"},
    "caseload": [],
    "proposal": {"case_id": "C-2", "work_type": "child_protection", "children": 3},
}


def run(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


def lines(text: str) -> list[str]:
    return text.splitlines()


def assert_one_clean_line(stderr: str) -> str:
    assert len(lines(stderr)) == 1, stderr
    assert "Traceback" not in stderr
    return stderr.strip()


def preset_path(preset_id: str) -> Path:
    return Path(str(resources.files("policy.presets").joinpath(f"{preset_id}.yaml")))


# --- decide ----------------------------------------------------------------------------


def test_decide_one_json_request_through_the_console_script() -> None:
    done = subprocess.run(
        [str(SCRIPT), "policy", "decide", "--policy", "stoke-childrens"],
        input=json.dumps(ISSUE_REQUEST, indent=2),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    [line] = lines(done.stdout)
    answer = json.loads(line)
    assert set(answer) == {
        "outcome",
        "requested_role",
        "overridden",
        "reasons",
        "conditions",
        "allowed_from",
        "caseload",
        "month_of_practice",
        "policy",
    }
    assert answer["outcome"] == "allow"
    assert answer["allowed_from"] is None
    assert answer["caseload"] == {
        "children_before": 2,
        "children_after": 3,
        "children_cap": 16,
        "points_before": 0,
        "points_after": 0,
        "points_cap": None,
    }
    assert answer["policy"] == {"id": "stoke-childrens", "version": STOKE.policy.version}
    assert all({"rule", "clause", "summary"} <= set(r) for r in answer["reasons"])
    assert answer == decision_json(decide(STOKE, parse_decision_request(ISSUE_REQUEST)))


def test_decide_json_lines_answers_each_line_and_puts_an_error_in_place_of_a_bad_one() -> None:
    unknown_type = {
        **EARLY_CP_REQUEST,
        "proposal": {**EARLY_CP_REQUEST["proposal"], "work_type": "adoption"},
    }
    stdin = "\n".join(
        [
            json.dumps(ISSUE_REQUEST),
            '{"on": "2026-07-01", "worker":',
            json.dumps(EARLY_CP_REQUEST),
            json.dumps(unknown_type),
        ]
    )
    done = run("policy", "decide", "--policy", "stoke-childrens", stdin=stdin)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    answers = [json.loads(line) for line in lines(done.stdout)]
    assert len(answers) == 4
    assert answers[0] == decision_json(decide(STOKE, parse_decision_request(ISSUE_REQUEST)))
    assert answers[1]["error"]["line"] == 2
    assert "not JSON" in answers[1]["error"]["message"]
    assert answers[2] == decision_json(decide(STOKE, parse_decision_request(EARLY_CP_REQUEST)))
    assert answers[2]["outcome"] == "deny"
    assert answers[3]["error"]["line"] == 4
    assert answers[3]["error"]["field"] == "proposal.work_type"
    assert [line.split(":")[0] for line in lines(done.stderr)] == ["line 2", "line 4"]


def _with(path: str, value: Any) -> str:
    """EARLY_CP_REQUEST with one field replaced (`a.b` paths; None removes the field)."""
    request = json.loads(json.dumps(EARLY_CP_REQUEST))
    *parents, last = path.split(".")
    target = request
    for key in parents:
        target = target[key]
    if value is None:
        del target[last]
    else:
        target[last] = value
    return json.dumps(request)


@pytest.mark.parametrize(
    ("args", "stdin", "field", "allowed"),
    [
        pytest.param(
            ["--policy", "stoke-childrens"],
            "{this is not json",
            "request",
            "not JSON",
            id="not-json",
        ),
        pytest.param(
            ["--policy", "no-such-council"],
            json.dumps(EARLY_CP_REQUEST),
            "policy",
            "stoke-childrens",
            id="unknown-policy",
        ),
        pytest.param(
            ["--policy", "stoke-childrens"],
            _with("proposal.work_type", "child_protectoin"),
            "proposal.work_type",
            "did you mean 'child_protection'",
            id="unknown-work-type",
        ),
        pytest.param(
            ["--policy", "stoke-childrens"],
            _with("on", "2026-02-30"),
            "on",
            "YYYY-MM-DD",
            id="date-not-a-date",
        ),
        pytest.param(
            ["--policy", "stoke-childrens"],
            _with("worker.asye_start", "05/01/2026"),
            "worker.asye_start",
            "YYYY-MM-DD",
            id="start-not-a-date",
        ),
        pytest.param(
            ["--policy", "stoke-childrens"],
            _with("proposal.children", -1),
            "proposal.children",
            "greater than or equal to 0",
            id="negative-children",
        ),
        pytest.param(
            ["--policy", "stoke-childrens"],
            _with("proposal", None),
            "proposal",
            "required",
            id="missing-proposal",
        ),
    ],
)
def test_a_bad_request_exits_2_with_one_line_naming_the_field(
    args: list[str], stdin: str, field: str, allowed: str
) -> None:
    done = run("policy", "decide", *args, stdin=stdin)
    assert done.returncode == 2
    message = assert_one_clean_line(done.stderr)
    assert f"{field}:" in message
    assert allowed in message


def test_an_unknown_work_type_is_answered_with_the_work_types_the_policy_knows() -> None:
    done = run(
        "policy",
        "decide",
        "--policy",
        "stoke-childrens",
        stdin=_with("proposal.work_type", "adoption"),
    )
    assert done.returncode == 2
    message = assert_one_clean_line(done.stderr)
    assert message.startswith("proposal.work_type: 'adoption'")
    assert all(w.id in message for w in STOKE.policy.work_types)


# --- entitlements and breaches ---------------------------------------------------------


def test_entitlements_list_every_work_type_with_both_roles() -> None:
    request = {k: EARLY_CP_REQUEST[k] for k in ("on", "worker", "caseload")}
    done = run("policy", "entitlements", "--policy", "stoke-childrens", stdin=json.dumps(request))
    assert done.returncode == 0, done.stderr
    [line] = lines(done.stdout)
    answer = json.loads(line)
    assert answer == entitlements_json(entitlements(STOKE, parse_caseload_request(request)))
    rows = {(r["work_type"], tuple(r["flags"])): r for r in answer["work_types"]}
    assert {wt for wt, _ in rows} == {w.id for w in STOKE.policy.work_types}
    cp = rows[("child_protection", ())]
    assert (cp["lead"], cp["co_work"]) == ("deny", "deny")
    # The month-6 review falls due six calendar months after the start.
    assert cp["allowed_from"]["date"] == "2026-07-05"
    assert "month-6 review passed" in cp["allowed_from"]["milestone"]
    assert answer["caseload"]["children_remaining"] == 16


def test_breaches_name_the_rules_a_caseload_breaks() -> None:
    caseload = [
        {"case_id": "C-1", "work_type": "child_protection", "children": 3, "role": "lead"},
        *(
            {"case_id": f"C-{n}", "work_type": "child_in_need", "children": 6, "role": "lead"}
            for n in range(2, 5)
        ),
    ]
    request = {"on": "2026-07-01", "worker": {"asye_start": "2026-01-05"}, "caseload": caseload}
    stdin = json.dumps(request) + "\n" + json.dumps({**request, "caseload": caseload[1:2]}) + "\n"
    done = run("policy", "breaches", "--policy", "stoke-childrens", stdin=stdin)
    assert done.returncode == 0, done.stderr
    over, fine = (json.loads(line) for line in lines(done.stdout))
    assert over == breaches_json(breaches(STOKE, parse_caseload_request(request)))
    assert sorted(b["rule"] for b in over["breaches"]) == [
        "stoke.cap.sixteen-children",
        "stoke.cp.lead-from-nine-months",
        "stoke.cp.none-before-six-month-review",
    ]
    assert all(b["clause"] and b["remedy"] for b in over["breaches"])
    assert fine == {"breaches": []}


# --- the ends of the calendar (issue 6, defect 1) ------------------------------------------

# Leave "to 9999-12-31" (open-ended), an ASYE starting in 9999, and `on` the calendar's last day.
CALENDAR_ENDS: list[dict[str, Any]] = [
    {
        "on": "2026-07-01",
        "worker": {
            "asye_start": "2026-01-05",
            "pauses": [{"from": "2026-03-01", "to": "9999-12-31"}],
        },
    },
    {"on": "9999-07-01", "worker": {"asye_start": "9999-06-01"}},
    {"on": "9999-12-31", "worker": {"asye_start": "2026-01-05"}},
]
CP_LEAD = {"case_id": "C-9", "work_type": "child_protection", "children": 1, "role": "lead"}


def in_process(command: str, request: dict[str, Any]) -> Mapping[str, object]:
    """What `caseload-bot policy COMMAND` should print for one request."""
    if command == "decide":
        return decision_json(decide(STOKE, parse_decision_request(request)))
    if command == "entitlements":
        return entitlements_json(entitlements(STOKE, parse_caseload_request(request)))
    return breaches_json(breaches(STOKE, parse_caseload_request(request)))


@pytest.mark.parametrize("command", ["decide", "entitlements", "breaches"])
def test_dates_at_the_end_of_the_calendar_are_answered_in_json_not_a_traceback(
    command: str,
) -> None:
    requests = [
        {**r, "caseload": [], "proposal": CP_LEAD}
        if command == "decide"
        else {**r, "caseload": [CP_LEAD]}
        for r in CALENDAR_ENDS
    ]
    done = subprocess.run(
        [str(SCRIPT), "policy", command, "--policy", "stoke-childrens"],
        input="\n".join(json.dumps(r) for r in requests) + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    answers = [json.loads(line) for line in lines(done.stdout)]
    assert answers == [in_process(command, r) for r in requests]
    if command == "decide":
        # Month 6 of an ASYE begun 9999-06-01 is in the calendar; the other milestones are not.
        dates = [a["allowed_from"]["date"] for a in answers]
        assert dates == [None, "9999-12-01", None]


# --- lint, explain, test ---------------------------------------------------------------


def test_lint_accepts_a_preset_file() -> None:
    path = preset_path("stoke-childrens")
    done = run("policy", "lint", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{path}: ok: stoke-childrens")


def _line_number(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_lint_names_file_line_and_field_of_a_typo(tmp_path: Path) -> None:
    text = preset_path("phased-academy").read_text("utf-8")
    assert "  months_full_time: 12" in text
    broken = text.replace("  months_full_time: 12", "  month_full_time: 12")
    path = tmp_path / "academy.yaml"
    path.write_text(broken, "utf-8")
    done = run("policy", "lint", str(path))
    assert done.returncode == 2
    message = assert_one_clean_line(done.stderr)
    line = _line_number(broken, "month_full_time")
    assert message.startswith(f"{path}:{line}: programme.month_full_time:")
    assert "unknown key" in message


@pytest.mark.parametrize("command", ["lint", "test"])
def test_a_file_that_is_not_utf8_is_named_with_its_line_not_a_stack_trace(
    tmp_path: Path, command: str
) -> None:
    """Saved from a Windows editor as Latin-1, say: a £ sign on line 3."""
    path = tmp_path / "council.yaml"
    path.write_bytes("id: council\nname: Council\nsummary: £1 a case\n".encode("latin-1"))
    done = run("policy", command, str(path))
    assert done.returncode == 2
    message = assert_one_clean_line(done.stderr)
    assert message == f"{path}:3: is not UTF-8 text (byte 0xa3 on this line): save it as UTF-8"


def test_lint_names_an_unknown_work_type_in_a_gate_and_suggests_the_close_one(
    tmp_path: Path,
) -> None:
    text = preset_path("stoke-childrens").read_text("utf-8")
    broken = text.replace(
        "applies_to: {work_types: [care_proceedings]}",
        "applies_to: {work_types: [care_procedings]}",
    )
    assert broken != text
    path = tmp_path / "stoke.yaml"
    path.write_text(broken, "utf-8")
    done = run("policy", "lint", str(path))
    assert done.returncode == 2
    message = assert_one_clean_line(done.stderr)
    gate = next(
        i
        for i, g in enumerate(STOKE.policy.gates)
        if g.applies_to.work_types == ("care_proceedings",)
    )
    assert message.startswith(
        f"{path}:{_line_number(broken, 'care_procedings')}: gates[{gate}].applies_to.work_types[0]:"
    )
    assert "'care_procedings'" in message
    assert "did you mean 'care_proceedings'?" in message


def test_explain_shows_every_work_type_by_phase() -> None:
    done = run("policy", "explain", "stoke-childrens", env={"COLUMNS": "240"})
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for phase in ("months 0-3", "months 3-6", "months 6-9", "months 9+"):
        assert phase in out
    for work_type in STOKE.policy.work_types:
        assert work_type.name in out
    # Child protection: not before the six-month review, co-work to nine months, then lead.
    cp_row = next(line for line in lines(out) if "Child protection" in line)
    cells = [cell.strip() for cell in cp_row.split("│")[2:-1]]
    assert cells == ["no", "no", "co-work only", "lead"]


def test_policy_test_fails_and_names_the_failing_case(tmp_path: Path) -> None:
    # The suite names its policy by a path relative to itself.
    (tmp_path / "stoke.yaml").write_text(preset_path("stoke-childrens").read_text("utf-8"), "utf-8")
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        textwrap.dedent(
            """\
            policy: stoke.yaml
            defaults: {worker: {asye_start: 2026-01-05}}
            cases:
              - name: child protection refused before the six-month review
                clause: Phased Increase of Complex Working > Child Protection
                given:
                  on: 2026-04-10
                  caseload: []
                  proposal: {case_id: C-1, work_type: child_protection, children: 1}
                expect: {outcome: deny, blocking: [stoke.cp.none-before-six-month-review, stoke.cp.lead-from-nine-months]}
              - name: a wrong expectation of child protection as lead in month three
                clause: Phased Increase of Complex Working > Child Protection
                given:
                  on: 2026-04-10
                  caseload: []
                  proposal: {case_id: C-1, work_type: child_protection, children: 1}
                expect: {outcome: allow}
            """
        ),
        "utf-8",
    )
    done = run("policy", "test", str(suite))
    assert done.returncode == 1, done.stdout + done.stderr
    out = lines(done.stdout)
    assert "PASS child protection refused before the six-month review" in out[0]
    assert "FAIL a wrong expectation of child protection as lead in month three" in out[1]
    assert "outcome: expected 'allow', got 'deny'" in done.stdout
    assert out[-1] == "1 passed, 1 failed"


# --- purity ------------------------------------------------------------------------------

FORBIDDEN = (
    "asyncio",
    "sqlalchemy",
    "aiohttp",
    "slack_sdk",
    "slack_bolt",
    "botbuilder",
    "storage",
    "handlers",
    "bot",
    "socket",
)

# Records, for each watched top-level module, the file whose import statement loaded it.
_IMPORT_POLICY = f"""
import json, sys, traceback
watched, importers = {FORBIDDEN!r}, {{}}
class Watch:
    def find_spec(self, name, path=None, target=None):
        if name in watched and name not in importers:
            frames = [f for f in traceback.extract_stack()[:-1] if not f.filename.startswith("<")]
            importers[name] = frames[-1].filename
        return None
sys.meta_path.insert(0, Watch())
import policy
print(json.dumps({{"modules": sorted(sys.modules), "importers": importers, "policy": policy.__file__}}))
"""


def test_importing_policy_pulls_in_no_io_chat_or_database_module(tmp_path: Path) -> None:
    """`socket` is the one exception, and only as the standard library's own import.

    pydantic builds its first model by loading its plugin registry through
    `importlib.metadata`, which imports `email.utils`, which imports `socket`. The test
    allows exactly that route and fails if any module of `policy/` imports `socket` itself.
    """
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_POLICY],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=tmp_path,
    )
    report = json.loads(done.stdout)
    loaded = {name.partition(".")[0] for name in report["modules"]}
    assert loaded.isdisjoint(set(FORBIDDEN) - {"socket"}), report["importers"]
    policy_dir = str(Path(report["policy"]).parent)
    socket_importer = report["importers"].get("socket")
    if socket_importer is not None:
        assert not socket_importer.startswith(policy_dir)
        assert Path(socket_importer).parts[-2:] == ("email", "utils.py")
