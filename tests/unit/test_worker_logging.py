"""The worker's start-up log filter: the coordinator errors every fresh start logs are INFO while it starts, and
keep their level once it has started (then they mean a broker in trouble)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from stream_app.__main__ import LOG_FORMAT, StartupNoiseFilter

pytestmark = pytest.mark.unit

COORDINATOR = "aiokafka.consumer.group_coordinator"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(name: str, level: int, msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


@pytest.mark.parametrize(("level", "msg", "args"), [
    (logging.ERROR, "Group Coordinator Request failed: %s", ("[Error 15] GroupCoordinatorNotAvailableError",)),
    (logging.ERROR, "OffsetCommit failed for group %s due to group error (%s), will rejoin",
     ("g", "[Error 16] NotCoordinatorForGroupError")),
    (logging.ERROR, "Group Coordinator Request failed: %s", ("[Error 14] CoordinatorLoadInProgressError",)),
    (logging.WARNING, "Marking the coordinator dead (node %s)for group %s.", (1, "scoreboard-worker")),
])
def test_the_known_start_up_records_are_info_while_starting(level: int, msg: str, args: tuple[object, ...]) -> None:
    noise = StartupNoiseFilter(clock=Clock())
    rec = record(COORDINATOR, level, msg, *args)
    assert noise.filter(rec)
    assert (rec.levelno, rec.levelname) == (logging.INFO, "INFO")


def test_other_records_keep_their_level() -> None:
    noise = StartupNoiseFilter(clock=Clock())
    others = [record(COORDINATOR, logging.ERROR, "Heartbeat failed: %r", "[Error 58] SaslAuthenticationFailed"),
              record("stream_app.ranking", logging.ERROR, "GroupCoordinatorNotAvailable, in our own code"),
              record("faust.transport", logging.ERROR, "Unexpected error in coordinator routine")]
    for rec in others:
        assert noise.filter(rec)
        assert rec.levelno == logging.ERROR


def test_after_start_and_grace_the_same_record_is_an_error_again() -> None:
    clock = Clock()
    noise = StartupNoiseFilter(clock=clock, window_s=60, grace_s=10)
    clock.now += 5
    noise.started()
    clock.now += 9.9
    early = record(COORDINATOR, logging.ERROR, "Group Coordinator Request failed: GroupCoordinatorNotAvailableError")
    assert noise.filter(early) and early.levelno == logging.INFO
    clock.now += 0.2
    late = record(COORDINATOR, logging.ERROR, "Group Coordinator Request failed: GroupCoordinatorNotAvailableError")
    assert noise.filter(late) and late.levelno == logging.ERROR


def test_a_worker_that_never_gets_ready_stops_demoting_after_the_window() -> None:
    clock = Clock()
    noise = StartupNoiseFilter(clock=clock, window_s=60)
    clock.now += 60
    rec = record(COORDINATOR, logging.ERROR, "Group Coordinator Request failed: GroupCoordinatorNotAvailableError")
    assert noise.filter(rec) and rec.levelno == logging.ERROR


@pytest.fixture
def coordinator_log() -> Iterator[tuple[logging.Logger, logging.Handler, io.StringIO]]:
    """A handler as the worker sets up the root logger's, on a logger of its own (the root is pytest's)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logger = logging.getLogger("aiokafka.consumer.group_coordinator.test-worker-logging")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    try:
        yield logger, handler, out
    finally:
        logger.removeHandler(handler)


def test_through_a_handler_the_line_reads_info(coordinator_log: tuple[logging.Logger, logging.Handler,
                                                                      io.StringIO]) -> None:
    logger, handler, out = coordinator_log
    handler.setLevel(logging.INFO)
    handler.addFilter(StartupNoiseFilter(floor=logging.INFO, clock=Clock()))
    logger.error("Group Coordinator Request failed: %s", "[Error 15] GroupCoordinatorNotAvailableError")
    logger.error("Heartbeat failed: %r", "something else")
    lines = out.getvalue().splitlines()
    assert " INFO aiokafka.consumer.group_coordinator.test-worker-logging: Group Coordinator" in lines[0]
    assert " ERROR " in lines[1]


def test_a_demoted_record_below_the_handler_level_is_dropped(coordinator_log: tuple[logging.Logger,
                                                                                    logging.Handler,
                                                                                    io.StringIO]) -> None:
    logger, handler, out = coordinator_log
    handler.setLevel(logging.WARNING)
    handler.addFilter(StartupNoiseFilter(floor=logging.WARNING, clock=Clock()))
    logger.error("Group Coordinator Request failed: %s", "[Error 15] GroupCoordinatorNotAvailableError")
    assert out.getvalue() == ""
