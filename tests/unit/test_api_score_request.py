"""Pure parts of ``POST /scores``: event ids (a keyed hash scoped by API key id, user and Idempotency-Key), key ids,
generated keys, headers, body parsing, key matching, record encoding."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import orjson
import pytest
from aiokafka.partitioner import DefaultPartitioner
from pydantic import SecretStr

from producer_api.auth import ApiKeys, Credential, EventIds, matching_key, parse_key
from producer_api.errors import BadRequest
from producer_api.kafka_io import KeyPartitioner, encode, encode_request
from producer_api.score_request import (
    check_content_type,
    check_idempotency_key,
    new_idempotency_key,
    parse_score_request,
    wants_async,
)
from schemas.events import ScoreEvent, ScoreRequest

pytestmark = pytest.mark.unit


SECRET = SecretStr("s" * 32)
event_id = EventIds(SECRET)


def test_idempotent_event_id_is_the_documented_keyed_hash() -> None:
    mac = hmac.new(b"s" * 32, b"acme\nu-1\norder-42", hashlib.sha256).hexdigest()
    assert event_id("acme", "u-1", "order-42") == "idem-" + mac[:40]


def test_idempotent_event_id_is_per_key_id_user_and_key_and_reveals_none() -> None:
    a = event_id("acme", "u-1", "order-42")
    assert a == event_id("acme", "u-1", "order-42")
    assert a != event_id("other", "u-1", "order-42")
    assert a != event_id("acme", "u-2", "order-42")
    assert a != event_id("acme", "u-1", "order-43")
    assert "acme" not in a and "u-1" not in a and "order-42" not in a


def test_without_the_server_secret_the_event_id_cannot_be_recomputed() -> None:
    """Holding score-events and guessing the key id, user and Idempotency-Key is not enough: the plain hash of
    them (what the id used to be) and a hash under another secret both differ."""
    a = event_id("acme", "u-1", "order-42")
    assert a != "idem-" + hashlib.sha256(b"acme\nu-1\norder-42").hexdigest()[:40]
    assert a != EventIds(SecretStr("t" * 32))("acme", "u-1", "order-42")


def test_the_user_id_is_hashed_exactly_as_sent() -> None:
    """user_id is opaque: "é" composed and decomposed are two users, so two event ids."""
    assert event_id("k", "\u00e9", "order-1") != event_id("k", "e\u0301", "order-1")


def test_a_key_with_an_id_is_named_by_it_and_a_bare_key_by_a_hash_prefix() -> None:
    assert parse_key("acme:0123456789abcdef") == Credential("acme", SecretStr("0123456789abcdef"))
    bare = parse_key("0123456789abcdef")
    assert bare.secret.get_secret_value() == "0123456789abcdef"
    assert bare.key_id == "k-" + hashlib.sha256(b"0123456789abcdef").hexdigest()[:12]
    # a part before ':' that is no id (empty, spaces, too long) keeps the whole entry as the key
    for entry in (":secret", "has space:secret", "x" * 65 + ":secret", "acme:"):
        assert parse_key(entry) == Credential(parse_key(entry).key_id, SecretStr(entry))
        assert parse_key(entry).key_id.startswith("k-")


def test_a_rotated_key_keeps_its_id_so_a_retry_with_the_new_key_is_the_same_event() -> None:
    keys = ApiKeys((SecretStr("acme:old-0123456789abcdef"), SecretStr("acme:new-0123456789abcdef")))
    old, new = keys.match(b"old-0123456789abcdef"), keys.match(b"new-0123456789abcdef")
    assert old is not None and new is not None and old.key_id == new.key_id == "acme"
    assert event_id(old.key_id, "u-1", "order-1") == event_id(new.key_id, "u-1", "order-1")
    assert keys.match(b"acme:old-0123456789abcdef") is None  # the id is not part of the key sent


def test_a_generated_idempotency_key_is_a_valid_one_and_new_each_time() -> None:
    keys = {new_idempotency_key() for _ in range(100)}
    assert len(keys) == 100
    for key in keys:
        assert check_idempotency_key(key) == key
        assert len(key) == 32 and set(key) <= set("0123456789abcdef")


@pytest.mark.parametrize(("headers", "expected"), [
    ([], False),
    (["respond-async"], True),
    (["Respond-Async"], True),
    (["wait=10, respond-async"], True),
    (["handling=lenient", "respond-async; foo=bar"], True),
    (["return=minimal"], False),
    (["respond-asyncx"], False),
])
def test_prefer_respond_async_parsing(headers: list[str], expected: bool) -> None:
    assert wants_async(headers) is expected


@pytest.mark.parametrize("value", ["a", "order-42", "x" * 255, "with space inside", "~!@#$%^&*()"])
def test_valid_idempotency_keys(value: str) -> None:
    assert check_idempotency_key(value) == value


@pytest.mark.parametrize("value", ["", "x" * 256, "tab\there", "nul\x00", "é-accent", "line\nbreak"])
def test_invalid_idempotency_keys(value: str) -> None:
    with pytest.raises(BadRequest, match="Idempotency-Key must be 1 to 255 printable ASCII characters"):
        check_idempotency_key(value)


def test_absent_idempotency_key_is_none() -> None:
    assert check_idempotency_key(None) is None


@pytest.mark.parametrize("value", ["application/json", "application/json; charset=utf-8", "Application/JSON"])
def test_json_content_types_accepted(value: str) -> None:
    check_content_type(value)


@pytest.mark.parametrize("value", [None, "", "text/plain", "application/x-www-form-urlencoded", "application/jsonx"])
def test_other_content_types_refused(value: str | None) -> None:
    with pytest.raises(BadRequest, match="Content-Type must be application/json"):
        check_content_type(value)


def test_parse_reports_every_field_problem_with_location() -> None:
    with pytest.raises(BadRequest) as err:
        parse_score_request(b'{"user_id": 7, "action_id": "", "extra": 1}')
    locs = {tuple(e["loc"]) for e in err.value.errors}
    assert locs == {("body", "user_id"), ("body", "action_id"), ("body", "extra")}
    assert err.value.detail.startswith("invalid request body: ")


def test_matching_key_finds_each_configured_key_and_nothing_else() -> None:
    keys = [(Credential(k, SecretStr(k)), k.encode()) for k in ("alpha", "beta")]
    assert matching_key(keys, b"alpha") is keys[0][0]
    assert matching_key(keys, b"beta") is keys[1][0]
    for wrong in (b"", b"alph", b"alphaa", b"ALPHA", b"gamma"):
        assert matching_key(keys, wrong) is None
    assert matching_key([], b"alpha") is None


def test_encoded_record_is_keyed_by_user_and_has_no_nulls() -> None:
    when = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    key, value = encode(ScoreEvent(user_id="ü-1", action_id="win_match", event_id="e1", occurred_at=when))
    assert key == "ü-1".encode()
    assert orjson.loads(value) == {"user_id": "ü-1", "action_id": "win_match", "event_id": "e1",
                                   "occurred_at": "2026-11-26T12:00:00+00:00"}
    assert ScoreEvent.model_validate_json(value).occurred_at == when


@pytest.mark.parametrize("username", [None, "Zoë", "Zoe\u0308", "\U0001f469\u200d\U0001f4bb Dev"])
def test_the_fast_record_encoding_is_byte_for_byte_the_model_encoding(username: str | None) -> None:
    when = datetime(2026, 11, 26, 12, 0, 1, 250, tzinfo=UTC)
    score = ScoreRequest(user_id="ü-1", action_id="win_match", username=username)
    event = ScoreEvent(user_id="ü-1", action_id="win_match", event_id="e1", username=username, occurred_at=when)
    assert encode_request(score, "e1", when) == encode(event)


@pytest.mark.parametrize("value", [1, 0, -7, 2**63 - 1])
def test_a_value_goes_onto_the_record_byte_for_byte_as_the_model_encodes_it(value: int) -> None:
    when = datetime(2026, 11, 26, 12, 0, 1, tzinfo=UTC)
    score = ScoreRequest(user_id="u-1", action_id="lap_time_ms", username="Ada", value=value)
    event = ScoreEvent(user_id="u-1", action_id="lap_time_ms", event_id="e1", username="Ada", occurred_at=when,
                       value=value)
    key, record = encode_request(score, "e1", when)
    assert (key, record) == encode(event)
    assert orjson.loads(record)["value"] == value and ScoreEvent.model_validate_json(record).value == value


def test_the_produced_record_has_the_name_in_nfc_and_the_user_id_as_sent() -> None:
    score = parse_score_request('{"user_id": "Zoe\u0308", "action_id": "a", "username": "Zoe\u0308"}'.encode())
    key, value = encode_request(score, "e1", datetime(2026, 11, 26, tzinfo=UTC))
    assert key == "Zoe\u0308".encode()
    assert orjson.loads(value)["username"] == "Zo\u00eb"
    assert orjson.loads(value)["user_id"] == "Zoe\u0308"


@pytest.mark.parametrize("body", [b'{"user_id": "a\\ud800b", "action_id": "x"}',
                                  b'{"user_id": "a", "action_id": "x", "username": "\\udc00"}',
                                  b'{"user_id": "a\xed\xa0\x80", "action_id": "x"}'],
                         ids=["lone-high-escape", "lone-low-escape", "surrogate-bytes"])
def test_a_lone_surrogate_in_the_body_is_a_400_not_a_500(body: bytes) -> None:
    """pydantic-core and orjson both refuse unpaired surrogates while parsing: a BadRequest, never an error."""
    with pytest.raises(BadRequest, match="malformed JSON"):
        parse_score_request(body)


def test_valid_bodies_parse_the_same_in_one_pass_as_through_a_dict() -> None:
    bodies = (b'{"user_id": "u1", "action_id": "win_match"}', rb' {"action_id":"a","user_id":"\u00fc","username":null}',
              b'{"user_id": "a", "action_id": "b", "user_id": "c"}', '{"user_id": "ü", "action_id": "x"}'.encode())
    for body in bodies:
        assert parse_score_request(body) == ScoreRequest.model_validate(orjson.loads(body))


def test_the_remembering_partitioner_maps_keys_exactly_like_the_default_one() -> None:
    mine, default = KeyPartitioner(), DefaultPartitioner()
    for n in range(2000):
        key, partitions = f"user-{n}".encode(), list(range(1 + n % 12))
        expected = default(key, partitions, partitions)
        assert mine(key, partitions, partitions) == expected
        assert mine(key, partitions, partitions) == expected  # remembered
