"""Filling a board from the audit log, against what the log holds besides plain records and what happens beside
the fill (regressions of the breaker's findings, on the real broker): aborted transactions, a partition ending in
a transaction marker, and a revert of an event the fill has not reached yet."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from tests.fixtures.boards import board_files, fill_of, live_partitions, standings_on
from tests.fixtures.kafka import Topics, consume_until, read_to_end
from tools.supervisor import Supervisor

pytestmark = pytest.mark.integration
WINS = "wins: {actions: [win_match], windows: [alltime]}\n"


def win(user: str, event_id: str) -> bytes:
    return orjson.dumps({"user_id": user, "action_id": "win_match", "event_id": event_id})


async def test_a_fill_counts_no_aborted_transaction_and_goes_live_past_a_trailing_marker(
    bootstrap: str, make_topics: Callable[..., Awaitable[Topics]], producer: AIOKafkaProducer,
    start_worker: Callable[..., Supervisor], tmp_path: Path,
) -> None:
    """bob's records of an aborted transaction count on no board, the new one included; the partition ends with a
    transaction's commit marker (no record after it), and the board goes live all the same."""
    topics = await make_topics(partitions=1)
    src, data = topics.names.score_events, tmp_path / "data"
    worker = start_worker(topics, data_dir=data, **board_files(tmp_path / "a", None))
    for i in range(3):
        await producer.send_and_wait(src, win("ann", f"a{i}"), key=b"ann")
    for user, commit in (("bob", False), ("cat", True)):
        tx = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"{topics.prefix}tx-{user}")
        await tx.start()
        await tx.begin_transaction()
        for i in range(4 if user == "bob" else 1):
            await tx.send(src, win(user, f"{user}{i}"), key=user.encode())
        await (tx.commit_transaction() if commit else tx.abort_transaction())
        await tx.stop()
    await consume_until(bootstrap, topics.names.applied, lambda rs: len(rs) >= 4)
    worker.stop()

    start_worker(topics, data_dir=data, **board_files(tmp_path / "b", WINS))
    status = await consume_until(bootstrap, topics.names.board_status,
                                 lambda rs: live_partitions(rs, "wins") == {0}, timeout=60)
    assert fill_of(status, "wins")[0].live
    want = {"ann": 75, "cat": 25}
    records = await consume_until(
        bootstrap, topics.names.user_standings,
        lambda rs: {u: s for u, (s, _) in standings_on(rs, "wins/alltime").items()} == want)
    assert {u: s for u, (s, _) in standings_on(records, "alltime").items()} == want


async def test_a_revert_beside_a_fill_takes_the_event_off_the_new_board_once(
    bootstrap: str, make_topics: Callable[..., Awaitable[Topics]], producer: AIOKafkaProducer,
    start_worker: Callable[..., Supervisor], tmp_path: Path,
) -> None:
    """ann's last event is reverted while the new board is being filled, before the fill reaches it: the fill
    leaves it out, and the revert does not take it off the board as well (which would leave ann at 0)."""
    topics = await make_topics(partitions=1)
    src, data = topics.names.score_events, tmp_path / "data"
    worker = start_worker(topics, data_dir=data, **board_files(tmp_path / "a", None))
    await producer.send_and_wait(src, win("ann", "first"), key=b"ann")
    filler = 12_000
    for i in range(filler):
        user = f"f{i % 300}"
        await producer.send(src, win(user, f"x{i}"), key=user.encode())
    await producer.send_and_wait(src, win("ann", "last"), key=b"ann")
    await consume_until(bootstrap, topics.names.applied, lambda rs: len(rs) >= filler + 2, timeout=240)
    worker.stop()

    start_worker(topics, data_dir=data, **board_files(tmp_path / "b", WINS))
    await consume_until(bootstrap, topics.names.board_status, lambda rs: 0 in fill_of(rs, "wins"), timeout=60)
    revert = {"command_id": "rv1", "action": "revert", "event_id": "last", "admin_key_id": "k",
              "requested_at": datetime.now(UTC).isoformat(), "reason": "test"}
    await producer.send_and_wait(topics.names.moderation, orjson.dumps(revert), key=b"last", partition=0)
    answers = await consume_until(bootstrap, topics.names.moderation_results, lambda rs: len(rs) >= 1)
    assert orjson.loads(answers[0].value)["status"] == "applied"
    await consume_until(bootstrap, topics.names.board_status, lambda rs: live_partitions(rs, "wins") == {0},
                        timeout=180)
    records = await consume_until(bootstrap, topics.names.user_standings,
                                  lambda rs: "ann" in standings_on(rs, "wins/alltime"), timeout=60)
    everything = await read_to_end(bootstrap, topics.names.user_standings)
    assert standings_on(everything, "wins/alltime")["ann"][0] == 25 == standings_on(records, "alltime")["ann"][0]


async def test_a_new_deployment_with_events_waiting_has_every_board_live_from_the_first_record(
    bootstrap: str, make_topics: Callable[..., Awaitable[Topics]], producer: AIOKafkaProducer,
    start_worker: Callable[..., Supervisor], tmp_path: Path,
) -> None:
    """Events wait on ``score-events`` before the first worker ever starts, with a boards file: nothing precedes
    the live path, so every board is live in each partition from offset 0 — no fill from the audit log and no
    hand-over (the fill used to read each partition again under the apply lock) — and counts each event once."""
    topics = await make_topics(partitions=2)
    src = topics.names.score_events
    for i in range(60):
        user = f"u{i % 6}"
        await producer.send(src, win(user, f"e{i}"), key=user.encode())
    await producer.flush()
    worker = start_worker(topics, data_dir=tmp_path / "data", **board_files(tmp_path / "a", WINS))
    want = {f"u{n}": 250 for n in range(6)}
    records = await consume_until(
        bootstrap, topics.names.user_standings,
        lambda rs: {u: s for u, (s, _) in standings_on(rs, "wins/alltime").items()} == want)
    assert {u: s for u, (s, _) in standings_on(records, "alltime").items()} == want
    status = await consume_until(bootstrap, topics.names.board_status,
                                 lambda rs: live_partitions(rs, "wins") == {0, 1})
    assert all(progress.at == 0 for progress in fill_of(status, "wins").values())
    assert "filling wins" not in worker.output()
    assert worker.output().count("wins is live in partition") == 2


TWO_NEW = "wins: {actions: [win_match], windows: [alltime]}\nwins2: {actions: [win_match], windows: [alltime]}\n"


async def test_a_board_made_live_from_offset_0_between_two_chunks_of_a_tick_is_not_filled_again(
    bootstrap: str, make_topics: Callable[..., Awaitable[Topics]], producer: AIOKafkaProducer,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker's own BoardFill and Ingestor on the real broker (the fill's consumer), with a dict in place of the
    RocksDB table and the record batches dropped, so that the live batch can be put exactly between two chunks of
    one tick (a regression of the breaker's finding). A new deployment with two boards and ann's 3 events waiting;
    the live consumer has fetched them (position 3) and its batch waits for the apply lock while the fill holds it
    for ``wins``: the fill starts ``wins`` (the live path has fetched), then the batch runs at offset 0 and makes
    ``wins2`` (no marker yet) live from 0. The same tick then goes on to ``wins2`` from the work list it made
    before: ann must stand at 75 on every board."""
    import asyncio
    from types import SimpleNamespace

    import stream_app.backfill as backfill
    from schemas.boards import Boards
    from schemas.catalog import ActionCatalog
    from schemas.runtime.kafka import plaintext
    from stream_app.backfill import FILL, BoardFill, FillRecord, Marker, fill_consumer
    from stream_app.ingest import Ingestor
    from stream_app.record_batches import RecordBatches
    from stream_app.rules import DAY_MS, RecordRules
    from stream_app.scoring import UserState
    from stream_app.settings import WorkerSettings
    from stream_app.tables import USER

    topics = await make_topics(partitions=1)
    src = topics.names.score_events
    for i in range(3):
        await producer.send_and_wait(src, win("ann", f"a{i}"), key=b"ann")
    fetched = [FillRecord(r) for r in await read_to_end(bootstrap, src)]  # what the live consumer handed over

    class Store:
        def __init__(self) -> None:
            self.data: dict[tuple[int, str], object] = {}
            self.table = self

        def get(self, partition: int, key: str) -> object:
            return self.data.get((partition, key))

        def write(self, partition: int, items: list[tuple[str, object]]) -> None:
            for key, value in items:
                if value is None:
                    self.data.pop((partition, key), None)
                else:
                    self.data[(partition, key)] = orjson.loads(orjson.dumps(value))

    class Batches:
        partition_for = staticmethod(RecordBatches.partition_for)

        def add(self, *args: object, **kwargs: object) -> None:
            pass

        async def send(self) -> None:
            pass

        async def partition_count(self, topic: str) -> int:
            return 1

    async def dead_letter(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"dead letter {args}")

    monkeypatch.setattr(backfill, "partition_items", lambda table, partition, prefix: [
        (k, v) for (p, k), v in table.data.items() if p == partition and k.startswith(prefix)])
    files = board_files(tmp_path / "a", TWO_NEW)
    catalog = ActionCatalog.load(files["SCOREBOARD_ACTIONS_FILE"])
    boards = Boards.load(files["SCOREBOARD_BOARDS_FILE"], catalog)
    settings = WorkerSettings(kafka_bootstrap_servers=bootstrap, topic_prefix=topics.prefix, data_dir=tmp_path)
    store = Store()
    worker_topics = SimpleNamespace(score_events=SimpleNamespace(get_topic_name=lambda: src),
                                    standings=topics.names.user_standings,
                                    applied=SimpleNamespace(name=topics.names.applied))
    ingestor = Ingestor(store, Batches(), worker_topics,  # type: ignore[arg-type]
                        RecordRules(catalog, settings.period_retention_days * DAY_MS, settings.period_grace_s * 1000,
                                    boards),
                        SimpleNamespace(send=dead_letter, count=0), settings)  # type: ignore[arg-type]
    processed: dict[int, int] = {}  # stage1.processed
    live_batch: list[asyncio.Future[None]] = []

    async def apply_and_rank() -> None:  # register_ingest's handler, as the app runs it
        async with ingestor.lock:
            await ingestor.process(fetched)
            processed[0] = fetched[-1].offset + 1  # stage1.handled

    fetched_yet = False

    async def position(partition: int) -> int:  # app.consumer.position(score-events[partition])
        if not fetched_yet:
            return 0
        if not live_batch:  # the fetch just landed: its batch now waits for the lock the fill holds
            live_batch.append(asyncio.ensure_future(apply_and_rank()))
        return len(fetched)

    fill = BoardFill(ingestor, boards, lambda: fill_consumer(plaintext(bootstrap)), topics.names.board_status,
                     processed, lambda: 1, live_position=position)
    ingestor.gate = fill
    try:
        await fill.tick([0])  # the live consumer has not fetched yet: every board waits
        assert fill.pending(0) == [boards.get("wins"), boards.get("wins2")]
        fetched_yet = True
        await fill.tick([0])  # the app's budget (0.3 s)
        await live_batch[0]
        for _ in range(10):
            if not fill.pending(0):
                break
            await fill.tick([0])
    finally:
        if fill.consumer is not None:
            await fill.consumer.stop()
    state = UserState.from_json(store.get(0, USER + "ann"))
    markers = {b.name: Marker.from_json(store.get(0, FILL + b.name)) for b in boards}
    assert all(m is not None and m.live is not None for m in markers.values()), markers
    assert not fill.pending(0)
    assert {b: state.boards[b][0] for b in ("alltime", "wins/alltime", "wins2/alltime")} == {
        "alltime": 75, "wins/alltime": 75, "wins2/alltime": 75}
