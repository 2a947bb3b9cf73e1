"""The product's input errors and the policy layer's own, each carrying the one line a person
needs to fix what they sent.

`InputError` is raised by every layer for bad input (a request, an event, a CSV row, a
command); adapters answer it as a 400 naming the field, an exit 2, or a chat reply.
`input_errors` is the one translation of a pydantic `ValidationError` into such errors.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from pydantic import ValidationError

NO_PERSONAL_DATA = "the product keeps no names of children, addresses, dates of birth or case notes"
"""Said wherever an unknown field or column is refused: it is why unknown keys are errors."""

EXTRA_FIELD = ("extra_forbidden", "unexpected_keyword_argument")
"""How pydantic names a key that is not a field (models, dataclasses)."""


class PolicyError(Exception):
    """Base of every error the policy layer raises on purpose."""


class PolicyFileError(PolicyError):
    """A policy file that cannot be used: names the file, the path inside it and the field."""

    def __init__(self, source: str, path: str, message: str, line: int | None = None) -> None:
        self.source = source
        self.path = path
        self.line = line
        self.message = message
        where = f"{source}:{line}" if line is not None else source
        at = f" {path}:" if path else ""
        super().__init__(f"{where}:{at} {message}")


class UnknownPolicyError(PolicyError):
    """A policy id that is neither a preset nor a readable file."""

    def __init__(self, ref: str, known: list[str]) -> None:
        self.ref = ref
        super().__init__(
            f"policy: {ref!r} is not a preset or a policy file; presets are: {', '.join(known)}"
        )


class InputError(PolicyError):
    """Input that cannot be used: `field` names where, `message` says what is allowed."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


def input_errors(
    exc: ValidationError,
    *,
    root: str = "request",
    prefix: tuple[str, ...] = (),
    skip: Collection[str] = (),
) -> list[InputError]:
    """Every problem pydantic found, a field not of the contract first (it is the likeliest
    to be personal data sent by mistake). `root` names the whole input, `prefix` is where
    the validated value sits inside it, and `skip` drops location parts that name a union
    member (an event type) rather than a field."""
    errors = sorted(exc.errors(), key=lambda e: e["type"] not in EXTRA_FIELD)
    return [InputError(_field(e, root, prefix, skip), _message(e)) for e in errors]


def input_error(
    exc: ValidationError,
    *,
    root: str = "request",
    prefix: tuple[str, ...] = (),
    skip: Collection[str] = (),
) -> InputError:
    """The first of `input_errors`: what one answer to a request reports."""
    return input_errors(exc, root=root, prefix=prefix, skip=skip)[0]


def _field(err: Any, root: str, prefix: tuple[str, ...], skip: Collection[str]) -> str:
    parts = [*prefix, *(p for p in err["loc"] if not (isinstance(p, str) and p in skip))]
    if err["type"].startswith("union_tag"):
        parts.append(str(err["ctx"]["discriminator"]).strip("'"))
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out or root


def _message(err: Any) -> str:
    kind = err["type"]
    if kind == "missing":
        return "is required"
    if kind in EXTRA_FIELD:
        return f"is not an accepted field ({NO_PERSONAL_DATA})"
    if kind == "union_tag_invalid":
        return f"{err['ctx']['tag']!r} is not allowed; expected {err['ctx']['expected_tags']}"
    if kind == "union_tag_not_found":
        return "is required"
    if kind == "json_invalid":
        return f"is not JSON ({err['ctx']['error']})"
    if kind == "enum":
        return f"{err.get('input')!r} is not allowed; {err['msg'].removeprefix('Input should be ')}"
    return str(err["msg"]).removeprefix("Value error, ")
