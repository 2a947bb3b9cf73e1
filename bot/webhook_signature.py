"""Standard Webhooks signatures, verified as the specification asks a receiver to verify them.

Our own rather than `standardwebhooks.Webhook.verify`, which refuses the whole
`webhook-signature` list when one entry is malformed (or two spaces separate entries) even
though another entry is valid, and decodes the body as UTF-8 before checking the signature,
so that a correctly signed body that is not UTF-8 looks forged. Here the HMAC covers the raw
bytes; what the body means is the caller's business once the signature holds.

https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

TOLERANCE = dt.timedelta(minutes=5)
"""The specification's replay window, both ways, around this server's clock."""

PREFIX = "whsec_"
_DIGITS = re.compile(r"[0-9]+")
_MAX_DIGITS = 15
"""More than any instant near now has: a longer timestamp is in the future, unread by `int()`."""


class SignatureError(Exception):
    """A delivery that is refused (401); the message says why, fit to send back."""


@dataclass(frozen=True, slots=True)
class WebhookSecrets:
    """The HMAC keys, decoded once from their `whsec_` form: any one of them may sign.

    Several are kept during a secret rotation, when the previous one stays valid a while.
    """

    keys: tuple[bytes, ...] = field(repr=False)

    @classmethod
    def parse(cls, secrets: Sequence[str]) -> WebhookSecrets:
        if not secrets:
            raise ValueError("at least one webhook secret is needed")
        return cls(tuple(_key(secret) for secret in secrets))


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secrets: WebhookSecrets,
    now: dt.datetime,
    tolerance: dt.timedelta = TOLERANCE,
) -> None:
    """Raise `SignatureError` unless a `v1` entry of `webhook-signature` is the HMAC of this
    delivery with one of the secrets, sent within `tolerance` of `now` (aware).

    Other entries may be of another version (`v1a`, ...) or malformed: a sender may list
    signatures for receivers of several kinds, so only a matching one counts. `headers` are
    read by the specification's lower-case names (aiohttp's are case-insensitive).
    """
    msg_id = _header(headers, "webhook-id")
    timestamp = _header(headers, "webhook-timestamp")
    offered = _v1_signatures(_header(headers, "webhook-signature"))
    _check_timestamp(timestamp, now, tolerance)
    if not offered:
        raise SignatureError(
            "webhook-signature holds no v1 signature ('v1,' then the base64 HMAC-SHA256); "
            "entries of other versions and malformed entries are ignored"
        )
    # aiohttp decodes header bytes that are not UTF-8 with surrogateescape: this restores
    # the bytes the sender signed.
    try:
        signed = f"{msg_id}.{timestamp}.".encode("utf-8", "surrogateescape") + body
    except UnicodeEncodeError:
        raise SignatureError("webhook-id is not text that a sender could have signed") from None
    for key in secrets.keys:
        expected = hmac.new(key, signed, hashlib.sha256).digest()
        if any(hmac.compare_digest(expected, signature) for signature in offered):
            return
    raise SignatureError(
        "none of the v1 signatures in webhook-signature matches this body, webhook-id "
        "and webhook-timestamp with any of this server's secrets"
    )


def _key(secret: str) -> bytes:
    if not secret.startswith(PREFIX):
        raise ValueError(f"a webhook secret starts with {PREFIX}")
    encoded = secret.removeprefix(PREFIX)
    try:
        # Padding is optional, as the reference implementations accept secrets without it.
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except ValueError:
        raise ValueError(f"a webhook secret is {PREFIX} followed by the key in base64") from None
    if not key:
        raise ValueError(f"a webhook secret holds a key after {PREFIX}")
    return key


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if not value:
        raise SignatureError(f"the {name} header is missing or empty")
    return value


def _check_timestamp(value: str, now: dt.datetime, tolerance: dt.timedelta) -> None:
    if _DIGITS.fullmatch(value) is None:
        raise SignatureError("webhook-timestamp is not a Unix time in whole seconds")
    digits = value.lstrip("0") or "0"
    age = now.timestamp() - int(digits) if len(digits) <= _MAX_DIGITS else -math.inf
    window = tolerance.total_seconds()
    if age > window:
        raise SignatureError(
            f"webhook-timestamp is too old (more than {window / 60:g} min before this "
            "server's clock): a replay, or the sender's clock is wrong"
        )
    if age < -window:
        raise SignatureError(
            f"webhook-timestamp is too far in the future (more than {window / 60:g} min after "
            "this server's clock): the sender's clock is wrong"
        )


def _v1_signatures(header: str) -> list[bytes]:
    """The well-formed `v1` signatures; any run of whitespace separates entries."""
    found = []
    for entry in header.split():
        version, comma, encoded = entry.partition(",")
        if version != "v1" or not comma:
            continue
        try:
            signature = base64.b64decode(encoded, validate=True)
        except ValueError:  # binascii.Error, or text that is not ASCII
            continue
        if len(signature) == hashlib.sha256().digest_size:
            found.append(signature)
    return found
