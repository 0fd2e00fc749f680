"""The action catalog: ``action_id`` -> integer points, or ``{"min": a, "max": b}`` for a *value action*, loaded
from a YAML or JSON file.

A value action's events carry a ``value`` (a lap time, a level reached) within ``a..b``, and count only on boards
with ``value: true`` (:mod:`schemas.boards`), where the value is the score; a points action's events carry none.

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
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, model_validator

from schemas.events import ActionId

EXAMPLE_CATALOG = Path(__file__).with_name("actions.example.yaml")
MAX_POINTS = 1_000_000_000
Points = Annotated[StrictInt, Field(ge=-MAX_POINTS, le=MAX_POINTS)]
Int64 = Annotated[StrictInt, Field(ge=-(2**63), le=2**63 - 1)]


class ValueRange(BaseModel):
    """A value action's accepted values, both ends included (signed 64-bit)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    min: Int64
    max: Int64

    @model_validator(mode="after")
    def _ordered(self) -> ValueRange:
        if self.min > self.max:
            raise ValueError("min must not be greater than max")
        return self

    def problem(self, value: int) -> str | None:
        """Why ``value`` is not accepted, or None."""
        if not self.min <= value <= self.max:
            return f"value {value} is outside the action's range {self.min}..{self.max}"
        return None


class _UniqueKeys(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (YAML would keep the last one silently: a
    board or action pasted twice would drop the first without a word)."""


def _unique_mapping(loader: _UniqueKeys, node: yaml.MappingNode, deep: bool = False) -> dict[object, object]:
    seen: set[object] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if isinstance(key, str | int | float | bool):  # an unhashable key is refused by construct_mapping
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"{key!r} is given twice", key_node.start_mark)
            seen.add(key)
    return loader.construct_mapping(node, deep)


_UniqueKeys.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def load_yaml(text: str) -> object:
    """A YAML (or JSON) document with the safe loader, a key given twice refused (``yaml.YAMLError``)."""
    return yaml.load(text, Loader=_UniqueKeys)  # noqa: S506 - a SafeLoader subclass: no arbitrary objects


def one_line(exc: Exception) -> str:
    """A parser's message (several lines, with a caret) as one line."""
    return " ".join(str(exc).split())


class CatalogError(ValueError):
    """The catalog file is missing, unreadable or not a mapping of action ids to integer points."""


class _CatalogFile(BaseModel):
    model_config = ConfigDict(frozen=True)
    points: dict[ActionId, Points]
    values: dict[ActionId, ValueRange]


class ActionCatalog:
    """Immutable lookup of points (points actions) and value ranges (value actions) by action id."""

    def __init__(self, points: Mapping[str, int], values: Mapping[str, ValueRange] | None = None) -> None:
        self._points = MappingProxyType(dict(points))
        self._values = MappingProxyType(dict(values or {}))

    def points(self, action_id: str) -> int | None:
        """A points action's points; None for a value action or an unknown one."""
        return self._points.get(action_id)

    def value_range(self, action_id: str) -> ValueRange | None:
        """A value action's range; None for a points action or an unknown one."""
        return self._values.get(action_id)

    def __contains__(self, action_id: object) -> bool:
        return action_id in self._points or action_id in self._values

    def ids(self) -> list[str]:
        return [*self._points, *self._values]

    def as_dict(self) -> dict[str, int | dict[str, int]]:
        return {**self._points, **{a: {"min": r.min, "max": r.max} for a, r in self._values.items()}}

    def __len__(self) -> int:
        return len(self._points) + len(self._values)

    @classmethod
    def load(cls, path: Path | str) -> ActionCatalog:
        path = Path(path)
        try:
            raw = load_yaml(path.read_text(encoding="utf-8"))  # JSON is a subset of YAML
        except OSError as exc:
            raise CatalogError(f"cannot read action catalog {path}: {exc.strerror or exc}") from exc
        except yaml.YAMLError as exc:
            raise CatalogError(f"action catalog {path} is not valid YAML/JSON: {one_line(exc)}") from exc
        if not isinstance(raw, dict):
            raise CatalogError(f"action catalog {path} must map action_id to integer points at the top level")
        if not raw:
            raise CatalogError(f"action catalog {path} is invalid: catalog: it must name at least one action")
        try:  # a mapping is a value action's range, anything else must be points
            parsed = _CatalogFile(points={k: v for k, v in raw.items() if not isinstance(v, dict)},
                                  values={k: v for k, v in raw.items() if isinstance(v, dict)})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'][1:]) or 'catalog'}: {err['msg']}" for err in exc.errors()
            )
            raise CatalogError(f"action catalog {path} is invalid: {problems}") from exc
        return cls(parsed.points, parsed.values)
