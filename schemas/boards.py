"""Boards as data: the ``SCOREBOARD_BOARDS_FILE`` definitions, and the board keys every service reads and writes.

A board is a name (``[a-z0-9-]{1,64}``) and a definition: the catalog actions that count on it, how a user's
events make a score (``sum``, ``max``, ``min`` or ``latest``), its order, its windows and the time zone its
periods are in, and whether it scores the events' ``value`` instead of the catalog points. Without a file there
is one board, ``global``: every points action summed over ``alltime``, ``daily`` and ``weekly`` in UTC, today's
behaviour; a file that does not define ``global`` gets it added.

A **board key** names one board's window and period wherever boards are stored or sent (the ``u:`` states,
``leaderboard-updates``, ``user-standings``, ``leaderboard-final``): ``global`` keeps the keys it always had
(``alltime``, ``daily:2026-11-26``, ``weekly:2026-W48``), every other board is ``<board>/<window>[:<period>]``.
:class:`Boards` turns keys into parts and bounds (with each board's zone), so nothing else parses them.

The file is validated once, at start, against the catalog: a wrong field names the board and the field, an
action missing from the catalog, a value board counting a points action (or a points board listing a value
action), an unknown zone — every service refuses to start with that sentence.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator

from schemas.catalog import ActionCatalog, load_yaml, one_line
from schemas.events import ActionId
from schemas.leaderboard import WINDOWS, Window
from schemas.periods import bounds_in, first_day, period_for

GLOBAL = "global"
Aggregation = Literal["sum", "max", "min", "latest"]
Order = Literal["desc", "asc"]
QUARTER_HOUR_MS = 900_000  # the cache slot of an event time's keys (Board.keys_at)


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


class BoardsError(ValueError):
    """The boards file is missing, unreadable or invalid; the message names the board and field."""


class BoardDefinition(BaseModel):
    """One board of the file, as written there (``order`` resolved: ``asc`` for ``min``, else ``desc``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    actions: tuple[ActionId, ...] | None = Field(None, min_length=1, description="the actions that count (all)")
    aggregation: Aggregation = "sum"
    order: Order | None = None
    windows: tuple[Window, ...] = Field(WINDOWS, min_length=1)
    timezone: str = "UTC"
    value: StrictBool = False

    @field_validator("actions")
    @classmethod
    def _actions_once(cls, actions: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if actions is not None and len(set(actions)) != len(actions):
            raise ValueError("an action is listed twice")
        return actions

    @field_validator("windows")
    @classmethod
    def _unique(cls, windows: tuple[Window, ...]) -> tuple[Window, ...]:
        if len(set(windows)) != len(windows):
            raise ValueError("a window is listed twice")
        return windows

    @field_validator("timezone")
    @classmethod
    def _zone(cls, name: str) -> str:
        """A zone of the IANA database by its name — not ``localtime`` (each host's own: services on two hosts
        would cut periods at different times)."""
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{name!r} is not an IANA time zone (e.g. Europe/Berlin, America/Los_Angeles)") \
                from None
        if name == "localtime" or name not in _zone_names():
            raise ValueError(f"{name!r} is not an IANA time zone name (e.g. Europe/Berlin); a host's local time "
                             "would differ between hosts")
        return name


class Board:
    """A resolved board: its definition plus what the hot path asks (zone, order, fingerprint)."""

    __slots__ = ("name", "definition", "actions", "aggregation", "ascending", "windows", "tz", "value",
                 "fingerprint", "_keys", "_first_end", "_shortest")

    def __init__(self, name: str, definition: BoardDefinition) -> None:
        self.name = name
        self.definition = definition
        self.actions = None if definition.actions is None else frozenset(definition.actions)
        self.aggregation: Aggregation = definition.aggregation
        self.ascending = (definition.order or ("asc" if definition.aggregation == "min" else "desc")) == "asc"
        self.windows = definition.windows
        self.tz: tzinfo = UTC if definition.timezone == "UTC" else ZoneInfo(definition.timezone)
        self.value = definition.value
        # what the stored data of the board depends on: a changed definition is a new board (filled again)
        self.fingerprint = hashlib.sha256(orjson.dumps(self.describe(), option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
        self._keys: dict[int, tuple[str, ...]] = {}
        self._first_end: dict[int, tuple[int, str]] = {}
        self._shortest = next((w for w in ("daily", "weekly", "monthly") if w in self.windows), None)

    def describe(self) -> dict[str, object]:
        """The definition as ``GET /leaderboards`` shows it (order resolved, actions ``null`` = all)."""
        return {"actions": None if self.actions is None else sorted(self.actions), "aggregation": self.aggregation,
                "order": "asc" if self.ascending else "desc", "windows": list(self.windows),
                "timezone": self.definition.timezone, "value": self.value}

    def key(self, window: str, period: str | None) -> str:
        head = window if period is None else f"{window}:{period}"
        return head if self.name == GLOBAL else f"{self.name}/{head}"

    def period(self, window: Window, moment: datetime) -> str | None:
        return period_for(window, moment, self.tz)

    def keys_at(self, at_ms: int) -> tuple[str, ...]:
        """The keys an event at ``at_ms`` counts on: one per window. Cached per quarter hour of event time when
        its first and last millisecond have the same keys (a slot a period begins in is worked out per event:
        exact in every zone, whatever its offsets)."""
        slot = at_ms // QUARTER_HOUR_MS
        found = self._keys.get(slot)
        if found is None:
            first, last = self._keys_of(slot * QUARTER_HOUR_MS), self._keys_of((slot + 1) * QUARTER_HOUR_MS - 1)
            if first != last:
                return self._keys_of(at_ms)
            if len(self._keys) >= 4096:
                self._keys.clear()
            found = self._keys[slot] = first
        return found

    def _keys_of(self, at_ms: int) -> tuple[str, ...]:
        moment = datetime.fromtimestamp(at_ms / 1000, UTC)
        return tuple(self.key(w, self.period(w, moment)) for w in self.windows)

    def first_end(self, at_ms: int) -> tuple[int, str] | None:
        """(end in ms, key) of the first of this board's periods containing ``at_ms`` to end (its shortest window's):
        when an event at ``at_ms`` stops being accepted here. None for a board with only ``alltime``."""
        if self._shortest is None:
            return None
        slot = at_ms // QUARTER_HOUR_MS
        found = self._first_end.get(slot)
        if found is None:
            first, last = self._end_of(slot * QUARTER_HOUR_MS), self._end_of((slot + 1) * QUARTER_HOUR_MS - 1)
            if first != last:
                return self._end_of(at_ms)  # a period begins inside this quarter hour: exact, not cached
            if len(self._first_end) >= 4096:
                self._first_end.clear()
            found = self._first_end[slot] = first
        return found

    def _end_of(self, at_ms: int) -> tuple[int, str]:
        assert self._shortest is not None  # noqa: S101 - asked only for a board with a windowed window
        period = self.period(self._shortest, datetime.fromtimestamp(at_ms / 1000, UTC))
        assert period is not None  # noqa: S101 - a windowed window always has a period
        end = bounds_in(self._shortest, period, self.tz)[1]
        return int(end.timestamp() * 1000), self.key(self._shortest, period)

    def counts(self, action_id: str, catalog: ActionCatalog) -> bool:
        """Whether events of ``action_id`` count here: listed (or all), and a value action exactly on a value
        board."""
        if self.actions is not None and action_id not in self.actions:
            return False
        return (catalog.value_range(action_id) is not None) == self.value


class BoardProgress(BaseModel):
    """One ``board-status`` value (compacted, key ``<board>|<partition>``): how far the worker owning a source
    partition has filled a board from the audit log. ``at`` is the next ``score-events`` offset the fill applies,
    ``end`` the offset it must reach; ``live`` once it has and the board follows live events there."""

    model_config = ConfigDict(frozen=True)

    board: str
    partition: int = Field(ge=0)
    fingerprint: str = Field(description="the definition filled (a changed definition is filled again)")
    live: bool
    at: int = Field(ge=0)
    end: int = Field(ge=0)


class KeyParts(NamedTuple):
    board: Board
    window: Window
    period: str | None


class Boards:
    """Every board of a deployment, and the board keys: made, parsed, bounded and expired in each board's zone."""

    def __init__(self, boards: Mapping[str, Board], catalog: ActionCatalog) -> None:
        self.by_name = dict(boards)
        self.catalog = catalog
        self._for_action: dict[str, tuple[Board, ...]] = {}
        self._parsed: dict[str, KeyParts] = {}
        self._expiry: dict[tuple[str, timedelta], datetime | None] = {}

    def __iter__(self) -> Iterator[Board]:
        return iter(self.by_name.values())

    def __contains__(self, name: object) -> bool:
        return name in self.by_name

    def __len__(self) -> int:
        return len(self.by_name)

    def get(self, name: str) -> Board:
        """The board named ``name``; ``ValueError`` naming the boards there are."""
        board = self.by_name.get(name)
        if board is None:
            raise ValueError(f"unknown board {name[:80]!r}; boards: {', '.join(self.by_name)}")
        return board

    def counting(self, action_id: str) -> tuple[Board, ...]:
        """The boards events of ``action_id`` count on (cached: asked once per event)."""
        found = self._for_action.get(action_id)
        if found is None:
            found = tuple(b for b in self.by_name.values() if b.counts(action_id, self.catalog))
            if len(self._for_action) < 100_000:
                self._for_action[action_id] = found
        return found

    def parse(self, key: str) -> KeyParts:
        """A board key's board, window and period; ``ValueError`` for anything that is not the key of a board
        and window defined here (every key read from outside goes through this)."""
        found = self._parsed.get(key)
        if found is not None:
            return found
        name, _, head = key.rpartition("/")
        if name == GLOBAL:
            raise ValueError(f"{key[:100]!r}: the global board's keys have no prefix")
        board = self.get(name or GLOBAL)
        window, _, period = head.partition(":")
        if window not in board.windows:
            raise ValueError(f"{key[:100]!r} is not a board key: board {board.name!r} has windows "
                             f"{', '.join(board.windows)}")
        if window == "alltime":
            if period:
                raise ValueError(f"{key[:100]!r}: alltime has no period")
            parts = KeyParts(board, "alltime", None)
        else:
            first_day(window, period)
            parts = KeyParts(board, window, period)  # window: one of board.windows (checked above)
        if len(self._parsed) >= 100_000:
            self._parsed.clear()
        self._parsed[key] = parts
        return parts

    def check(self, key: str) -> str:
        self.parse(key)
        return key

    def bounds(self, key: str) -> tuple[datetime, datetime] | None:
        """When a key's period begins and ends (the next reset), UTC; None for ``alltime``."""
        board, window, period = self.parse(key)
        return None if period is None else bounds_in(window, period, board.tz)

    def expires_at(self, key: str, retention: timedelta) -> datetime | None:
        """When a key's period plus ``retention`` is over; None for ``alltime`` (cached: asked per event)."""
        cache_key = (key, retention)
        if cache_key in self._expiry:
            return self._expiry[cache_key]
        bounds = self.bounds(key)
        end = None if bounds is None else bounds[1] + retention
        if len(self._expiry) >= 100_000:
            self._expiry.clear()
        self._expiry[cache_key] = end
        return end

    def is_expired(self, key: str, now: datetime, retention: timedelta) -> bool:
        end = self.expires_at(key, retention)
        return end is not None and end <= now

    def gone(self, key: str, now: datetime, retention: timedelta) -> bool:
        """A key past its period's retention, or not a key of the boards defined now (a board removed from the
        file, a stray record): either way nothing to keep or rank."""
        try:
            return self.is_expired(key, now, retention)
        except ValueError:
            return True

    def ascending(self, key: str) -> bool:
        return self.parse(key).board.ascending

    def current_key(self, name: str, window: Window, now: datetime) -> str:
        board = self.get(name)
        return board.key(window, board.period(window, now))

    def period_start_us(self, key: str) -> int:
        """When a key's period began, in µs since the epoch (0 for ``alltime``): the least version its empty
        board may have (later than every version of the period before, on every process)."""
        bounds = self.bounds(key)
        return 0 if bounds is None else int(bounds[0].timestamp()) * 1_000_000

    def describe(self) -> dict[str, dict[str, object]]:
        return {b.name: b.describe() for b in self}

    @classmethod
    def default(cls, catalog: ActionCatalog) -> Boards:
        return cls({GLOBAL: Board(GLOBAL, BoardDefinition())}, catalog)

    @classmethod
    def load(cls, path: Path | str | None, catalog: ActionCatalog) -> Boards:
        """The boards of ``path`` (None: the default), checked against ``catalog``; ``BoardsError`` says why not."""
        if path is None:
            return cls.default(catalog)
        path = Path(path)
        try:
            raw = load_yaml(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise BoardsError(f"cannot read boards file {path}: {exc.strerror or exc}") from exc
        except yaml.YAMLError as exc:
            raise BoardsError(f"boards file {path} is not valid YAML/JSON: {one_line(exc)}") from exc
        if not isinstance(raw, dict) or not raw:
            raise BoardsError(f"boards file {path} must map board ids to definitions at the top level")
        return cls.parse_definitions(raw, catalog, str(path))

    @classmethod
    def parse_definitions(cls, raw: Mapping[object, object], catalog: ActionCatalog, source: str) -> Boards:
        boards: dict[str, Board] = {}
        for name, body in raw.items():
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                raise BoardsError(f"boards file {source}: board id {name!r} must match [a-z0-9-]{{1,64}}")
            try:
                definition = BoardDefinition.model_validate(body if body is not None else {})
            except ValidationError as exc:
                problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'definition'}: "
                                     f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors())
                raise BoardsError(f"boards file {source}: board {name!r}: {problems}") from None
            problem = _catalog_problem(definition, catalog)
            if problem:
                raise BoardsError(f"boards file {source}: board {name!r}: {problem}")
            boards[name] = Board(name, definition)
        if GLOBAL not in boards:
            boards = {GLOBAL: Board(GLOBAL, BoardDefinition()), **boards}
        return cls(boards, catalog)


_NAME = re.compile(r"[a-z0-9-]{1,64}")


def _catalog_problem(definition: BoardDefinition, catalog: ActionCatalog) -> str | None:
    for action in definition.actions or ():
        if action not in catalog:
            return f"actions: {action!r} is not in the action catalog"
        is_value = catalog.value_range(action) is not None
        if is_value and not definition.value:
            return f"actions: {action!r} is a value action ({{min, max}} in the catalog): it counts only on a " \
                   "board with value: true"
        if definition.value and not is_value:
            return f"actions: {action!r} has catalog points, but the board has value: true (list value actions only)"
    if definition.value and definition.actions is None and not any(
            catalog.value_range(a) is not None for a in catalog.ids()):
        return "value: true, but the action catalog has no value action ({min, max})"
    return None
