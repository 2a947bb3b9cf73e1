"""bot.webhook_signature on its own: the specification's rules, the reference implementations'
published vectors, and signatures made by the `standardwebhooks` package as a sender would."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook

from bot.webhook_signature import SignatureError, WebhookSecrets, verify

# The vector every reference implementation of standard-webhooks/standard-webhooks tests its
# `sign` against (commit b2fa7b8719fb75d326b591077f5d1b385cfcdfae):
# libraries/python/tests/test_webhooks.py::test_sign_function, libraries/go/webhook_test.go
# TestWebhookSign, and the same values in the JavaScript, PHP, Java, Ruby and C# tests.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
# A well-formed signature that matches nothing, from the same files' multi-signature tests
# (test_multi_sig_payload_is_valid, "valid multi sig is valid").
UNRELATED = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="

NOW = dt.datetime.fromtimestamp(VECTOR_TIMESTAMP, dt.UTC)
SECRETS = WebhookSecrets.parse([VECTOR_SECRET])
OTHER_SECRET = "whsec_" + base64.b64encode(b"somebody else's webhook secret!!").decode()


def _headers(signature: str = VECTOR_SIGNATURE, **changes: str) -> dict[str, str]:
    headers = {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": str(VECTOR_TIMESTAMP),
        "webhook-signature": signature,
    }
    headers.update({k.replace("_", "-"): v for k, v in changes.items()})
    return headers


def _reason(
    body: bytes, headers: dict[str, str], secrets: WebhookSecrets = SECRETS, now: dt.datetime = NOW
) -> str:
    with pytest.raises(SignatureError) as refused:
        verify(body, headers, secrets, now)
    return str(refused.value)


def _hmac(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The specification's v1 signature, computed over bytes (what a sender in any language does)."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


# --- published vectors ---------------------------------------------------------------------


def test_the_reference_vector_verifies() -> None:
    verify(VECTOR_BODY, _headers(), SECRETS, NOW)


def test_the_reference_vector_fails_when_any_part_changes() -> None:
    assert "matches" in _reason(VECTOR_BODY.replace(b"2432", b"2433"), _headers())
    assert "matches" in _reason(VECTOR_BODY, _headers(webhook_id=VECTOR_ID + "x"))
    later = str(VECTOR_TIMESTAMP + 1)
    assert "matches" in _reason(VECTOR_BODY, _headers(webhook_timestamp=later))
    # The reference tests' "invalid signature": the vector with its last byte changed.
    changed = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="
    assert "matches" in _reason(VECTOR_BODY, _headers(changed))
    assert "matches" in _reason(
        VECTOR_BODY, _headers(), secrets=WebhookSecrets.parse([OTHER_SECRET])
    )


def test_the_reference_multi_signature_header_verifies() -> None:
    """As in the reference tests: an unrelated v1, a v2, the valid one, an unrelated v1."""
    header = " ".join([UNRELATED, "v2" + UNRELATED[2:], VECTOR_SIGNATURE, UNRELATED])
    verify(VECTOR_BODY, _headers(header), SECRETS, NOW)


# --- the package as a sender ---------------------------------------------------------------

ids = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1)
keys = st.binary(min_size=1, max_size=64)


@given(key=keys, msg_id=ids, body=st.text(), offset=st.integers(-300, 300))
def test_what_the_package_signs_verifies(key: bytes, msg_id: str, body: str, offset: int) -> None:
    secret = "whsec_" + base64.b64encode(key).decode()
    signed_at = NOW + dt.timedelta(seconds=offset)
    signature = Webhook(secret).sign(msg_id, signed_at, body)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(signed_at.timestamp())),
        "webhook-signature": signature,
    }
    verify(body.encode(), headers, WebhookSecrets.parse([secret]), NOW)
    with pytest.raises(SignatureError):
        verify(body.encode() + b" ", headers, WebhookSecrets.parse([secret]), NOW)


@pytest.mark.parametrize(
    "encoded", ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr"]
)
def test_a_secret_without_its_base64_padding_works_as_the_package_reads_it(encoded: str) -> None:
    """The reference Python tests' unpadded secrets (test_signature_verification_with_unpadded_secret)."""
    secret = "whsec_" + encoded
    signature = Webhook(secret).sign(VECTOR_ID, NOW, VECTOR_BODY.decode())
    verify(VECTOR_BODY, _headers(signature), WebhookSecrets.parse([secret]), NOW)


# --- the header list -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        f"v1,not-base64! {VECTOR_SIGNATURE}",
        f"v1 {VECTOR_SIGNATURE}",
        f"garbage {VECTOR_SIGNATURE}",
        f"v1,AAAA {VECTOR_SIGNATURE}",  # base64, but not 32 bytes
        f"v1,é {VECTOR_SIGNATURE}",
        f"v1,{VECTOR_SIGNATURE[3:]},x {VECTOR_SIGNATURE}",
        f"{UNRELATED}  {VECTOR_SIGNATURE}",  # two spaces
        f"  {VECTOR_SIGNATURE}   ",
        f"{UNRELATED}\t{VECTOR_SIGNATURE}",
        f"v1a,{'A' * 86}== {VECTOR_SIGNATURE}",  # an asymmetric (ed25519) entry
        f"v2,{VECTOR_SIGNATURE[3:]} {VECTOR_SIGNATURE}",
        f"{VECTOR_SIGNATURE} v1,???",
    ],
)
def test_a_valid_entry_verifies_whatever_else_the_list_holds(header: str) -> None:
    verify(VECTOR_BODY, _headers(header), SECRETS, NOW)


@pytest.mark.parametrize(
    "header",
    ["v1", "v1,", "v1,@@@@", "v1,AAAA", "v1a,AAAA", "v2" + VECTOR_SIGNATURE[2:], "  ", "v1,é", ","],
)
def test_a_list_without_a_well_formed_v1_entry_says_so(header: str) -> None:
    assert _reason(VECTOR_BODY, _headers(header)).startswith(
        "webhook-signature holds no v1 signature"
    )


def test_only_wrong_signatures_say_none_matches() -> None:
    wrong = _hmac(b"another key", VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY)
    reason = _reason(VECTOR_BODY, _headers(f"{UNRELATED} {wrong}"))
    assert reason.startswith("none of the v1 signatures in webhook-signature matches")


# --- secrets ---------------------------------------------------------------------------------


def test_any_of_several_secrets_may_sign() -> None:
    """A rotation: the previous secret stays valid alongside the new one."""
    new = "whsec_" + base64.b64encode(b"the new secret, after rotation!!").decode()
    both = WebhookSecrets.parse([new, VECTOR_SECRET])
    verify(VECTOR_BODY, _headers(), both, NOW)
    signed_with_new = Webhook(new).sign(VECTOR_ID, NOW, VECTOR_BODY.decode())
    verify(VECTOR_BODY, _headers(signed_with_new), both, NOW)
    assert "matches" in _reason(VECTOR_BODY, _headers(signed_with_new))  # old secret alone


@pytest.mark.parametrize(
    ("secrets", "words"),
    [
        ([], "at least one"),
        (["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], "starts with whsec_"),
        (["whsec_"], "holds a key"),
        (["whsec_not base64!"], "base64"),
        (["whsec_MfKQ9"], "base64"),  # 5 characters: no padding makes that base64
        ([VECTOR_SECRET, "whsec_é"], "base64"),
    ],
)
def test_a_secret_that_is_not_whsec_base64_is_refused_without_echoing_it(
    secrets: list[str], words: str
) -> None:
    with pytest.raises(ValueError, match=words) as refused:
        WebhookSecrets.parse(secrets)
    encoded = secrets[-1].removeprefix("whsec_") if secrets else ""
    assert not encoded or encoded not in str(refused.value)


def test_the_keys_do_not_appear_in_repr() -> None:
    key = base64.b64decode(VECTOR_SECRET.removeprefix("whsec_"))
    assert SECRETS.keys == (key,)
    assert repr(key) not in repr(SECRETS) and "MfKQ" not in repr(SECRETS)


# --- headers and timestamps ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_each_header_is_required(name: str) -> None:
    headers = _headers()
    headers[name] = ""
    assert _reason(VECTOR_BODY, headers) == f"the {name} header is missing or empty"
    del headers[name]
    assert _reason(VECTOR_BODY, headers) == f"the {name} header is missing or empty"


@pytest.mark.parametrize(
    "timestamp",
    ["yesterday", "1614265330.0", "-1614265330", "+1614265330", " 1614265330", "1e9", "nan",
     "0x10", "١٦١٤٢٦٥٣٣٠", "1_614_265_330"],
)  # fmt: skip
def test_a_timestamp_that_is_not_whole_seconds_is_refused(timestamp: str) -> None:
    reason = _reason(VECTOR_BODY, _headers(webhook_timestamp=timestamp))
    assert reason == "webhook-timestamp is not a Unix time in whole seconds"


def test_the_tolerance_is_five_minutes_either_way() -> None:
    for offset in (-300, 300):
        verify(VECTOR_BODY, _headers(), SECRETS, NOW + dt.timedelta(seconds=offset))
    assert "too old" in _reason(VECTOR_BODY, _headers(), now=NOW + dt.timedelta(seconds=301))
    future = _reason(VECTOR_BODY, _headers(), now=NOW - dt.timedelta(seconds=301))
    assert "too far in the future" in future
    assert "more than 5 min" in future


def test_a_timestamp_checks_before_the_signature() -> None:
    """A replayed delivery is named as stale, even though its signature is genuine."""
    reason = _reason(VECTOR_BODY, _headers(), now=NOW + dt.timedelta(days=1))
    assert "too old" in reason


def test_a_custom_tolerance_applies() -> None:
    minute = dt.timedelta(minutes=1)
    with pytest.raises(SignatureError, match="more than 1 min"):
        verify(VECTOR_BODY, _headers(), SECRETS, NOW + dt.timedelta(seconds=61), minute)


@pytest.mark.parametrize(
    ("timestamp", "words"),
    [("9" * 10_000, "future"), ("0" * 9_990 + str(VECTOR_TIMESTAMP), "matches"), ("0", "old")],
)
def test_long_or_zero_timestamps_are_judged_by_their_value(timestamp: str, words: str) -> None:
    """`int()` refuses over 4,300 digits (ValueError): such a header must still be a refusal."""
    assert words in _reason(VECTOR_BODY, _headers(webhook_timestamp=timestamp))


# --- bytes -----------------------------------------------------------------------------------


def test_a_body_that_is_not_utf8_is_verified_over_its_bytes() -> None:
    key = base64.b64decode(VECTOR_SECRET.removeprefix("whsec_"))
    body = b'{"ref": "C-\xff"}'
    verify(body, _headers(_hmac(key, VECTOR_ID, VECTOR_TIMESTAMP, body)), SECRETS, NOW)
    assert "matches" in _reason(body, _headers())


def test_an_id_that_is_not_utf8_verifies_as_the_bytes_the_sender_signed() -> None:
    """aiohttp hands such header bytes over decoded with surrogateescape."""
    key = base64.b64decode(VECTOR_SECRET.removeprefix("whsec_"))
    raw_id = b"msg_\xff"
    signed = raw_id + f".{VECTOR_TIMESTAMP}.".encode() + VECTOR_BODY
    signature = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    as_received = raw_id.decode("utf-8", "surrogateescape")
    verify(VECTOR_BODY, _headers(signature, webhook_id=as_received), SECRETS, NOW)


def test_an_id_no_sender_could_have_sent_is_refused() -> None:
    """A lone surrogate has no UTF-8 bytes (and no surrogateescape ones) to sign."""
    reason = _reason(VECTOR_BODY, _headers(webhook_id="msg_\ud800"))
    assert reason == "webhook-id is not text that a sender could have signed"


anything = st.text(alphabet=st.characters(exclude_categories=()), max_size=200) | st.sampled_from(
    ["\ud800", "v1,\udcff", "\x00", "v1," + "A" * 20_000, " ".join(["v1,AAAA"] * 2_000)]
)
"""Any text, lone surrogates included, and a few hostile shapes."""


@given(
    msg_id=anything,
    timestamp=anything | st.just(str(VECTOR_TIMESTAMP)),
    signature=anything | st.just(VECTOR_SIGNATURE) | anything.map(lambda s: f"{s} {UNRELATED}"),
)
def test_whatever_the_headers_hold_the_only_error_is_a_signature_error(
    msg_id: str, timestamp: str, signature: str
) -> None:
    headers = {"webhook-id": msg_id, "webhook-timestamp": timestamp, "webhook-signature": signature}
    with pytest.raises(SignatureError):
        verify(VECTOR_BODY, headers, SECRETS, NOW)
