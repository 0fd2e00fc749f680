"""The action catalog: ``action_id`` -> integer points, loaded from a YAML or JSON file.

Both the write API (422 for unknown actions) and the worker (DLQ for unknown actions) load the same file,
and both refuse to start on a bad file with a message that names the problem.

Scores are signed 64-bit integers. Points are bounded to ``±MAX_POINTS`` (one billion) per action, so a total
leaves the 64-bit range only after billions of events of one user; should it ever, the worker refuses that
event with a reason instead of wrapping or failing.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from schemas.events import ActionId

EXAMPLE_CATALOG = Path(__file__).with_name("actions.example.yaml")
MAX_POINTS = 1_000_000_000
Points = Annotated[StrictInt, Field(ge=-MAX_POINTS, le=MAX_POINTS)]


class CatalogError(ValueError):
    """The catalog file is missing, unreadable or not a mapping of action ids to integer points."""


class _CatalogFile(BaseModel):
    model_config = ConfigDict(frozen=True)
    actions: dict[ActionId, Points] = Field(min_length=1)


class ActionCatalog:
    """Immutable lookup of points by action id."""

    def __init__(self, points: Mapping[str, int]) -> None:
        self._points = MappingProxyType(dict(points))

    def points(self, action_id: str) -> int | None:
        return self._points.get(action_id)

    def as_dict(self) -> dict[str, int]:
        return dict(self._points)

    def __len__(self) -> int:
        return len(self._points)

    @classmethod
    def load(cls, path: Path | str) -> ActionCatalog:
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))  # JSON is a subset of YAML
        except OSError as exc:
            raise CatalogError(f"cannot read action catalog {path}: {exc.strerror or exc}") from exc
        except yaml.YAMLError as exc:
            raise CatalogError(f"action catalog {path} is not valid YAML/JSON: {exc}") from exc
        if not isinstance(raw, dict):
            raise CatalogError(f"action catalog {path} must map action_id to integer points at the top level")
        try:
            parsed = _CatalogFile(actions=raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'][1:]) or 'catalog'}: {err['msg']}" for err in exc.errors()
            )
            raise CatalogError(f"action catalog {path} is invalid: {problems}") from exc
        return cls(parsed.actions)
