"""Build the worker: ``create_app(settings, catalog)`` wires topics, tables, handlers and timers explicitly.

This is the one place the pipeline is put together; read it to follow a record from fetch to board:
``score-events`` -> :class:`~stream_app.ingest.Ingestor` (rules, exactly-once decision, state table, answers,
dead letters) -> :class:`~stream_app.ranking.LocalTopK` (stage 1, per partition) -> ``leaderboard-candidates``
and :class:`~stream_app.ranking.GlobalTopK` (stage 2, the merge) -> :class:`~stream_app.emitter.Emitter` ->
``leaderboard-updates`` (and ``rank-changes``: who moved in the board's top). Timers: ``scoreboard.partitions``
(index and re-send partitions after a rebalance), ``scoreboard.periods`` (open a new day or week at once; seal
the periods due: ``leaderboard-final``; remove boards past the retention), ``scoreboard.lag`` (consumer lag for
``/metrics``). :class:`~stream_app.metrics.WorkerMetrics` is handed to the parts that count.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import faust
from faust.types import TP

from schemas.boards import Boards
from schemas.catalog import ActionCatalog
from schemas.runtime.kafka import client_options, read_latest
from schemas.standings import PeriodFinal
from stream_app.agents import (
    register_boards,
    register_fill_timer,
    register_ingest,
    register_lag_timer,
    register_moderation,
    register_partition_timer,
    register_period_timer,
)
from stream_app.backfill import BoardFill, fill_consumer
from stream_app.dlq import DeadLetterLog, DeadLetters
from stream_app.emitter import Emitter
from stream_app.faust_internals.batch_consumer import BatchHandler, install_batch_transport
from stream_app.health import Readiness
from stream_app.ingest import Ingestor
from stream_app.metrics import WorkerMetrics, dead_letter_kind
from stream_app.moderator import Moderator
from stream_app.ranking import GlobalTopK, LocalTopK
from stream_app.record_batches import RecordBatches
from stream_app.rules import DAY_MS, RecordRules
from stream_app.seal import PeriodSeal
from stream_app.sends import SendGuard
from stream_app.settings import WorkerSettings
from stream_app.tables import USER, PartitionStore, create_candidates_table, create_state_table, partition_items
from stream_app.topics import WorkerTopics, create_topics

log = logging.getLogger(__name__)


@dataclass
class Worker:
    """The app and the parts tests and ``__main__`` need to reach."""

    app: Any
    topics: WorkerTopics
    table: Any
    ingestor: Ingestor
    stage1: LocalTopK
    stage2: GlobalTopK
    handlers: dict[str, BatchHandler]
    readiness: Readiness
    seal: PeriodSeal
    metrics: WorkerMetrics


def _flush(dead_letter_log: DeadLetterLog) -> Callable[[], Awaitable[None]]:
    async def flush_dead_letter_log() -> None:
        dead_letter_log.flush_due()
    return flush_dead_letter_log


async def read_board_ids(settings: WorkerSettings, topic: str) -> set[str]:
    """The board ids held on a compacted topic keyed by board id (read to its end)."""
    latest = await read_latest(client_options(settings), topic, settings.kafka_connect_timeout)
    return {key.decode("utf-8", "replace") for key in latest}


async def read_sealed(settings: WorkerSettings) -> set[str]:
    """The periods sealed on ``leaderboard-final``: keys whose value is a final of that very board (anything else
    on the public topic is skipped with a warning, so a stray record can never stop a real final)."""
    latest = await read_latest(client_options(settings), settings.topics.finals, settings.kafka_connect_timeout)
    sealed = set()
    for key, value in latest.items():
        board = key.decode("utf-8", "replace")
        try:
            if PeriodFinal.model_validate_json(value).board_id != board:
                raise ValueError("board_id does not match the key")
        except ValueError as exc:
            log.warning("periods: ignoring leaderboard-final record %r: %s", board[:100], str(exc)[:200])
            continue
        sealed.add(board)
    return sealed


def broker_credentials(settings: WorkerSettings) -> faust.types.auth.CredentialsT | None:
    """The security settings as Faust takes them (``broker_credentials``), made from :func:`client_options`, the
    options of every other client. Faust hands them to each aiokafka client it builds: the consumer, the
    producer (and its transactional producers), whose connection also creates Faust's own topics."""
    options = client_options(settings)
    protocol = options["security_protocol"]
    if protocol.startswith("SASL_"):  # with a TLS context Faust's SASLCredentials mean SASL_SSL, else SASL_PLAINTEXT
        return faust.SASLCredentials(username=options["sasl_plain_username"], password=options["sasl_plain_password"],
                                     ssl_context=options.get("ssl_context"), mechanism=options["sasl_mechanism"])
    if protocol == "SSL":
        return faust.SSLCredentials(options["ssl_context"])
    return None


def create_app(settings: WorkerSettings, catalog: ActionCatalog, boards: Boards | None = None) -> Worker:
    """The worker; ``boards`` default to ``settings.boards_file`` (or the one ``global`` board) on ``catalog``."""
    boards = boards if boards is not None else Boards.load(settings.boards_file, catalog)
    app = faust.App(
        settings.worker_id,
        broker=settings.broker_urls,
        broker_credentials=broker_credentials(settings),
        store="rocksdb://",
        datadir=str(settings.data_dir),
        autodiscover=False,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        table_standby_replicas=settings.standby_replicas,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger=0.0,  # batch handlers build whole record batches (record_batches); no added wait
        # record batches of up to 256 KiB (aiokafka's default 16 KiB): aiokafka sends one batch per partition per
        # request and one request per broker at a time, so a batch's changelog and answers took one round trip per
        # 16 KiB of a partition. Measured (bench 2, 200 after apply at p99 < 50 ms): 1,875 / 2,062 -> 3,375 / 3,375
        # ev/s; bench 1 per CPU-second 24,631 / 21,645 -> 26,042 / 27,933. Under Kafka's 1 MB record batch limit.
        producer_max_batch_size=256 * 1024,
        producer_request_timeout=settings.produce_timeout_s,  # a send not delivered by then stops the commits
        broker_max_poll_records=settings.batch_max,  # one fetch = one batch for the batch agents
        broker_commit_every=10_000,
        broker_commit_interval=1.0,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=max(1.0, settings.session_timeout_s / 10),
        web_enabled=False,  # Faust's web serves table contents; the worker has its own health endpoint (health.py)
    )
    guard = SendGuard()  # every record produced below is delivered before an offset is committed past it
    handlers = install_batch_transport(app, guard, consumer_in_thread=settings.consumer == "thread")
    topics = create_topics(app, settings.topics, settings.partitions, guard)
    table = create_state_table(app, settings.partitions)
    generation = lambda: app.consumer_generation_id  # noqa: E731 - read at each call
    metrics = WorkerMetrics()  # GET /metrics (stream_app.health)
    stage2_tp = TP(settings.topics.candidates, 0)

    def owns_stage2() -> bool:
        return not (app.rebalancing or app.in_recovery) and stage2_tp in app.assignor.assigned_actives()

    # The path of a record, in order. 1: a fetch of score-events is checked and applied to the state table; the
    # changelog and score-applied records leave together (one set of record batches), dead letters beside them.
    batches = RecordBatches(app, guard)
    dead_letter_log = DeadLetterLog(dead_letter_kind)  # one line per interval, not one per record
    ingestor = Ingestor(
        PartitionStore(table, batches), batches, topics,
        RecordRules(catalog, settings.period_retention_days * DAY_MS, settings.period_grace_s * 1000, boards),
        DeadLetters(topics.dlq, app.conf.producer_max_request_size, counted=metrics.dead_letter,
                    logged=dead_letter_log), settings)
    metrics.ingestor = ingestor  # its counts are read at each scrape
    # 3 and 4 (built first: 2 hands its lists to them): stage 2 merges every partition's lists into each board's
    # top-K, and the emitter sends each board to leaderboard-updates, coalesced, and who moved in it to rank-changes.
    emitter = Emitter(topics.updates, settings.emit_interval_ms / 1000, boards=boards, rank_changes=topics.rank_changes,
                      generation=generation, emitted=metrics.board_emitted)
    stage2 = GlobalTopK(PartitionStore(create_candidates_table(app), RecordBatches(app, guard)), emitter,
                        settings.top_k, settings.period_retention, generation=generation, owns=owns_stage2)
    # 2: the users a batch changed update their partition's board indexes (stage 1); changed local lists go to
    # leaderboard-candidates, and straight to stage 2 while this worker owns it.
    stage1 = LocalTopK(RecordBatches(app, guard), settings.topics.candidates, settings.top_k,
                       settings.period_retention, settings.emit_interval_ms / 2000,  # half: the emitter adds the rest
                       local=stage2.on_local, load=lambda partition: partition_items(table, partition, USER),
                       generation=generation, boards=boards)
    register_ingest(app, handlers, topics.score_events, ingestor, stage1, metrics)  # 1 -> 2
    # 1b: moderation commands (co-partitioned with score-events) change the same users' states, between batches
    moderator = Moderator(PartitionStore(table, batches), batches, settings.topics.moderation,
                          topics.moderation_results, topics.standings, ingestor.dead, settings, boards)
    register_moderation(app, handlers, topics.moderation, moderator, stage1, ingestor.lock)  # 1b -> 2
    # 1c: a board not live in a partition (added to the boards file later) is filled there from the audit log
    fill = BoardFill(ingestor, boards, lambda: fill_consumer(client_options(settings)), settings.topics.board_status,
                     stage1.processed, generation,
                     live_position=lambda p: app.consumer.position(TP(settings.topics.score_events, p)))
    ingestor.gate = moderator.gate = fill
    register_fill_timer(app, settings.topics.score_events, fill, stage1)
    register_boards(app, handlers, topics.candidates, stage2)  # every worker's lists -> 3
    # 5: at a period's end + grace, once every partition is applied past it, its final goes to leaderboard-final;
    # boards past the retention leave leaderboard-updates.
    seal = PeriodSeal(stage2, topics.finals, topics.updates, settings.period_grace_s * 1000, settings.period_retention,
                      source_partitions=lambda: batches.partition_count(settings.topics.score_events),
                      read_sealed=lambda: read_sealed(settings),
                      read_published=lambda: read_board_ids(settings, settings.topics.leaderboard_updates),
                      generation=generation, boards=boards)
    stage2.on_watermark = seal.on_watermark
    register_partition_timer(app, settings.topics.score_events, table, stage1)
    register_period_timer(app, stage2, seal)
    app.timer(interval=1.0, name="scoreboard.deadletters")(_flush(dead_letter_log))
    register_lag_timer(app, {settings.topics.score_events, settings.topics.candidates, settings.topics.moderation},
                       metrics)
    return Worker(app, topics, table, ingestor, stage1, stage2, handlers, Readiness(app), seal, metrics)
