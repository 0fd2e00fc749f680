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
