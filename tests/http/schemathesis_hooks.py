"""Loaded by the schemathesis run in test_openapi_conformance (SCHEMATHESIS_HOOKS): signs
each generated webhook body as the case system would, so that generated events get past the
signature to the code that parses and stores them."""

from __future__ import annotations

import json
from typing import Any

import schemathesis
from schemathesis.core import NotSet

from tests.http.conftest import sign


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    if not case.path.startswith("/webhooks/case-events") or isinstance(case.body, NotSet):
        return
    body = case.body if isinstance(case.body, bytes) else json.dumps(case.body).encode()
    kwargs["data"] = body
    case.headers = {**(case.headers or {}), **sign(body)}
