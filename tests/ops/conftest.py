"""The HTTP harness of `tests/http` (the real app over the `db` fixture), for the
operators' routes."""

from tests.http.conftest import api

__all__ = ["api"]
