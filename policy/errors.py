"""The policy layer's errors: each carries the one line a person needs to fix their input."""

from __future__ import annotations


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


class RequestError(PolicyError):
    """A request to the engine that names something the policy does not know, or a bad value."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")
