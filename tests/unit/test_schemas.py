"""Shared records, periods, catalog and the exported JSON Schema files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas import export
from schemas.catalog import EXAMPLE_CATALOG, ActionCatalog, CatalogError
from schemas.events import ScoreEvent, ScoreRequest
from schemas.periods import board_id, day_period, is_expired, week_period

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
