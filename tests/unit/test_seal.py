"""Sealing periods (stream_app/seal.py): when a final is due, that it is sent once, and boards past retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas.standings import PeriodFinal
from stream_app.seal import PeriodSeal
from stream_app.topk import Entry

pytestmark = pytest.mark.unit

DAY = "daily:2026-11-30"
END_MS = int(datetime(2026, 12, 1, tzinfo=UTC).timestamp() * 1000)
GRACE_MS = 300_000
NOW = datetime(2026, 12, 1, 0, 10, tzinfo=UTC)


class Stage2:
    """What the seal reads of stage 2: ownership, boards, their lists and player counts (in memory)."""

    def __init__(self) -> None:
        self.owner = True
        self.top_k = 2
        self.lists = {DAY: {0: (5, [Entry("ann", 30, 1, "Ann")]), 1: (9, [Entry("bob", 40, 2), Entry("cy", 1, 3)])},
                      "alltime": {0: (5, [Entry("ann", 30, 1, "Ann")])}}
        self.forgotten: list[str] = []

    def owns(self) -> bool:
        return self.owner

    def boards(self) -> set[str]:
        return set(self.lists)

    def lists_for(self, board: str) -> dict[int, tuple[int, list[Entry]]]:
        return self.lists[board]

    def players(self, board: str) -> int:
        return 7

    def stored_watermarks(self) -> dict[int, int]:
        return {}

    async def forget(self, board: str) -> None:
        self.forgotten.append(board)
        self.lists.pop(board, None)


class Topic:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes | None, bytes | None]] = []

    async def send_and_wait(self, key: bytes | None, value: bytes | None) -> None:
        self.sent.append((key, value))

    async def send(self, key: bytes | None, value: bytes | None) -> None:
        self.sent.append((key, value))


def seal(stage2: Stage2, finals: Topic, updates: Topic, sealed: set[str] | None = None,
         published: set[str] | None = None, generation: list[int] | None = None) -> PeriodSeal:
    gen = generation or [1]

    async def partitions() -> int:
        return 2

    async def read_sealed() -> set[str]:
        return set(sealed or ())

    async def read_published() -> set[str]:
        return set(published or ())

    return PeriodSeal(stage2, finals, updates, GRACE_MS, timedelta(days=7), partitions, read_sealed,
                      read_published, generation=lambda: gen[0])


async def test_a_final_waits_for_every_partition_to_pass_end_plus_grace_and_is_sent_once() -> None:
    stage2, finals, updates = Stage2(), Topic(), Topic()
    periods = seal(stage2, finals, updates)
    periods.on_watermark(0, END_MS + GRACE_MS + 1)
    await periods.tick(NOW)
    assert finals.sent == []  # partition 1 unknown
    periods.on_watermark(1, END_MS + GRACE_MS - 1)
    await periods.tick(NOW)
    assert finals.sent == []  # partition 1 not past the close yet
    periods.on_watermark(1, END_MS + GRACE_MS)
    periods.on_watermark(1, 0)  # watermarks never go back
    await periods.tick(NOW)
    await periods.tick(NOW)
    [(key, value)] = finals.sent
    final = PeriodFinal.model_validate_json(value or b"")
    assert key == DAY.encode() and final.board_id == DAY and final.total_players == 7
    assert [(r.rank, r.user_id, r.score) for r in final.data] == [(1, "bob", 40), (2, "ann", 30)]
    assert final.period_end == datetime(2026, 12, 1, tzinfo=UTC)


async def test_a_final_already_on_the_topic_is_not_sent_again_after_a_restart_or_a_rebalance() -> None:
    stage2, finals, updates = Stage2(), Topic(), Topic()
    generation = [1]
    periods = seal(stage2, finals, updates, sealed={DAY}, generation=generation)
    periods.on_watermark(0, END_MS + GRACE_MS)
    periods.on_watermark(1, END_MS + GRACE_MS)
    await periods.tick(NOW)
    assert finals.sent == []
    generation[0] = 2  # a rebalance: the topic is read again, and still holds it
    await periods.tick(NOW)
    assert finals.sent == []


async def test_only_the_owner_of_stage_2_seals_or_removes() -> None:
    stage2, finals, updates = Stage2(), Topic(), Topic()
    stage2.owner = False
    periods = seal(stage2, finals, updates, published={"daily:2026-10-01"})
    periods.on_watermark(0, END_MS + GRACE_MS)
    periods.on_watermark(1, END_MS + GRACE_MS)
    await periods.tick(NOW + timedelta(days=30))
    assert finals.sent == updates.sent == []


async def test_boards_past_the_retention_are_tombstoned_and_forgotten_even_unknown_ones() -> None:
    stage2, finals, updates = Stage2(), Topic(), Topic()
    periods = seal(stage2, finals, updates, published={"daily:2026-10-01", "alltime"})
    await periods.tick(NOW + timedelta(days=9))  # daily:2026-11-30 ended 9 days ago: past 7 days kept
    assert sorted(updates.sent) == [(b"daily:2026-10-01", None), (DAY.encode(), None)]
    assert stage2.forgotten == ["daily:2026-10-01", DAY] and set(stage2.lists) == {"alltime"}


async def test_keys_that_are_no_board_id_are_skipped_not_fatal() -> None:
    stage2, finals, updates = Stage2(), Topic(), Topic()
    periods = seal(stage2, finals, updates, published={"daily:2026-13-45", "daily:9999-12-31", "weekly:zzz"})
    stage2.lists["weekly:\u0662\u0660\u0662\u0666-W49"] = {}
    await periods.tick(NOW + timedelta(days=9))
    assert [key for key, _ in updates.sent] == [DAY.encode()]  # the real board past retention only
