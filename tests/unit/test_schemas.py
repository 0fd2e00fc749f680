"""Shared records, periods, catalog and the exported JSON Schema files.

The character rule of names and ids is here too: the API and the worker share it, so what it accepts or
refuses is what both do.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas import export
from schemas.boards import Boards
from schemas.catalog import EXAMPLE_CATALOG, ActionCatalog, CatalogError, ValueRange
from schemas.events import BIDI_MESSAGE, ScoreEvent, ScoreRequest, check_characters
from schemas.periods import board_id, check_board_id, day_period, expires_at, is_expired, period_bounds, week_period

pytestmark = pytest.mark.unit


def test_exported_json_schemas_are_current() -> None:
    for filename, text in export.render().items():
        path = export.OUT / filename
        assert path.exists(), f"{filename} missing: run `make schemas`"
        assert path.read_text(encoding="utf-8") == text, f"{filename} is stale: run `make schemas`"


@pytest.mark.parametrize("user_id", ["", " ", "a\x00b", "tab\there", "x" * 129, 42, None])
def test_invalid_user_ids_are_refused(user_id: object) -> None:
    with pytest.raises(ValidationError):
        ScoreRequest.model_validate({"user_id": user_id, "action_id": "win_match"})


ZWJ_NAME = "\U0001f469\u200d\U0001f4bb Dev"  # 👩‍💻 Dev: woman, ZERO WIDTH JOINER (Cf), laptop


@pytest.mark.parametrize("text", [
    ZWJ_NAME,
    "\U0001f3f3\ufe0f\u200d\U0001f308",  # rainbow flag: variation selector + ZWJ
    "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",  # Scotland: tag characters (Cf)
    "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian with a ZERO WIDTH NON-JOINER
    "Zo\u00eb", "\u674e\u5c0f\u9f99", "soft\u00adhyphen", "no\u00a0break",
])
def test_real_names_with_format_characters_are_accepted(text: str) -> None:
    assert check_characters(text) == text
    request = ScoreRequest(user_id=text, action_id="win_match", username=text)
    assert request.user_id == text and request.username == text  # already NFC: unchanged


def test_the_username_is_stored_in_nfc_and_the_user_id_as_sent() -> None:
    decomposed = "Rene\u0301 e\u0301"
    request = ScoreRequest(user_id=decomposed, action_id="win_match", username=decomposed)
    assert request.username == "Ren\u00e9 \u00e9"
    assert request.user_id == decomposed  # opaque: the record key must be these exact bytes
    event = ScoreEvent.model_validate_json(f'{{"user_id": "u", "action_id": "a", "username": "{decomposed}"}}')
    assert event.username == "Ren\u00e9 \u00e9"  # the worker stores the same NFC form


def test_a_username_that_nfc_lengthens_past_the_limit_is_refused() -> None:
    ScoreRequest(user_id="u", action_id="a", username="\u0915" * 64)
    with pytest.raises(ValidationError, match="at most 64 characters in NFC"):
        ScoreRequest(user_id="u", action_id="a", username="\u0958" * 64)  # each is two characters in NFC


@pytest.mark.parametrize("text", ["a\x00b", "tab\there", "line\nbreak", "esc\x1b[31m", "del\x7f",
                                  "c1\x85next-line", "c1\x9bcsi", "ls\u2028", "ps\u2029"])
def test_controls_and_separators_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="must not contain control characters"):
        check_characters(text)
    for field in ("user_id", "action_id", "username"):
        with pytest.raises(ValidationError, match="must not contain control characters"):
            ScoreRequest.model_validate({"user_id": "u", "action_id": "a", field: text})


@pytest.mark.parametrize("control", list("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))
def test_bidirectional_overrides_and_isolates_are_refused_with_their_own_message(control: str) -> None:
    spoof = f"admin{control}nimda"
    with pytest.raises(ValueError) as err:
        check_characters(spoof)
    assert str(err.value) == BIDI_MESSAGE
    for field in ("user_id", "username"):
        with pytest.raises(ValidationError, match="bidirectional override or isolate"):
            ScoreRequest.model_validate({"user_id": "u", "action_id": "a", field: spoof})


@pytest.mark.parametrize("text", ["a\ud800", "\udc00b", "x\udfffy"])
def test_lone_surrogates_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="must not contain unpaired surrogates"):
        check_characters(text)
    for field in ("user_id", "username"):  # pydantic-core refuses them already, as not a valid string
        with pytest.raises(ValidationError):
            ScoreEvent.model_validate({"user_id": "u", "action_id": "a", field: text})


def test_request_refuses_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        ScoreRequest.model_validate({"user_id": "u", "action_id": "a", "score": 100})


def test_event_ignores_unknown_fields_and_parses_time() -> None:
    ev = ScoreEvent.model_validate({"user_id": "u", "action_id": "a", "x": 1, "occurred_at": "2026-11-26T10:00:00Z"})
    assert ev.occurred_at == datetime(2026, 11, 26, 10, tzinfo=UTC)


def test_periods_are_utc_iso() -> None:
    moment = datetime(2026, 11, 26, 23, 30, tzinfo=UTC)
    assert day_period(moment) == "2026-11-26"
    assert week_period(moment) == "2026-W48"
    assert week_period(datetime(2027, 1, 1, tzinfo=UTC)) == "2026-W53"
    assert board_id("daily", "2026-11-26") == "daily:2026-11-26"
    assert board_id("alltime", None) == "alltime"


def test_period_expiry() -> None:
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    assert is_expired("daily:2026-11-20", now, timedelta(days=2))
    assert not is_expired("daily:2026-11-25", now, timedelta(days=2))
    assert not is_expired("weekly:2026-W48", now, timedelta(days=0))
    assert not is_expired("alltime", now, timedelta(0))


def test_example_catalog_loads() -> None:
    catalog = ActionCatalog.load(EXAMPLE_CATALOG)
    assert catalog.points("complete_level_5") == 50
    assert catalog.points("nope") is None


def test_example_boards_load_against_the_example_catalog() -> None:
    """schemas/boards.example.yaml (the README's example) is valid with the shipped catalog, and the catalog's
    value actions leave the default ``global`` board as it was: only points actions count there."""
    catalog = ActionCatalog.load(EXAMPLE_CATALOG)
    boards = Boards.load(EXAMPLE_CATALOG.with_name("boards.example.yaml"), catalog)
    assert {b.name: (b.aggregation, b.ascending, b.value) for b in boards} == {
        "global": ("sum", False, False), "campaign": ("sum", False, False), "versus": ("sum", False, False),
        "best-match": ("max", False, True), "fastest-lap-eu": ("min", True, True), "rating": ("latest", False, True)}
    assert boards.get("fastest-lap-eu").definition.timezone == "Europe/Berlin"
    assert "monthly" in boards.get("fastest-lap-eu").windows
    assert [b.name for b in boards.counting("lap_time_ms")] == ["fastest-lap-eu"]
    assert [b.name for b in boards.counting("win_match")] == ["global", "versus"]
    assert catalog.value_range("lap_time_ms") == ValueRange(min=1, max=3_600_000)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[1, 2]", "must map"),
        ("a: 1.5", "a:"),
        ("a: true", "a:"),
        ("{}", "catalog"),
        ("a: [", "not valid"),
    ],
)
def test_bad_catalog_names_the_problem(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "actions.yaml"
    path.write_text(text)
    with pytest.raises(CatalogError, match="action catalog") as info:
        ActionCatalog.load(path)
    assert needle in str(info.value)


def test_missing_catalog_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read"):
        ActionCatalog.load(tmp_path / "absent.yaml")


@pytest.mark.parametrize("blank", ["   ", "\u200d", "\u200d \u200c", "\u2060"])
@pytest.mark.parametrize("field", ["user_id", "username"])
def test_names_of_only_spaces_or_invisible_format_characters_are_blank(field: str, blank: str) -> None:
    body = {"user_id": "u1", "action_id": "win_match", field: blank}
    with pytest.raises(ValidationError, match="must not be blank"):
        ScoreRequest.model_validate(body)


@pytest.mark.parametrize(("board", "reason"), [
    ("daily:9999-12-31", "years"), ("weekly:9999-W52", "years"), ("daily:1999-12-31", "years"),
    ("daily:2026-13-45", "month"), ("weekly:2026-W99", "week"),
    ("weekly:\u0662\u0660\u0662\u0666-W49", "not a board id"),
    ("daily:\u0662\u0660\u0662\u0666-12-01", "not a board id"), ("hourly:2026-12-01", "not a board id"),
    ("alltime:2026", "not a board id"), ("daily", "not a board id"), ("", "not a board id"),
])
def test_every_board_id_the_period_arithmetic_cannot_hold_is_refused_with_a_reason(board: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_board_id(board)


def test_board_ids_of_the_kept_years_pass() -> None:
    for board in ("alltime", "daily:2000-01-01", "daily:2026-12-01", "weekly:2026-W49", "weekly:9000-W01"):
        assert check_board_id(board) == board
    assert period_bounds("daily:9000-12-31") is not None and expires_at("weekly:9000-W52", timedelta(days=7))
