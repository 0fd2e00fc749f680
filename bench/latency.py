"""Latency figures from what the SSE clients received (pure functions; all times are ``time.monotonic()``,
which is one clock for every process on the machine).

- Fan-out (bench 4): each update has a version and the moment it was produced; a client's delay for it is
  when that exact version arrived. A version a client never got counts as not delivered.
- End-to-end (benches 3 and 5): POST j of user u is *contained* in a board once the board shows u with a
  score of at least ``j * points`` (every user is on the board and points are constant and positive). Boards
  are read in full only by the probe clients; the first version containing the POST is found from them, and
  every client's delay is when it received that version or any later one.

``percentile`` is the benches' one percentile: these figures and the load generator's (``bench.loadgen``).
"""

from __future__ import annotations

import bisect
import math
import random
from collections import defaultdict
from collections.abc import Sequence
from typing import Any


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of ascending ``sorted_values``: the value at index ``floor(q * n)``, the last one
    at most. None when there are no values or that value is ``inf`` (a sample that never came: no figure to give).

    The one percentile of the benches: the SSE figures here and the load generator (``bench.loadgen``) use it.
    """
    if not sorted_values:
        return None
    value = sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]
    return None if math.isinf(value) else value


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def summary(values: list[float], expected: int) -> dict[str, Any]:
    """p50/p99/max in ms over ``values`` (seconds); missing samples (``expected - len``) count as infinitely late."""
    values = sorted(values)
    missing = max(0, expected - len(values))
    full = values + [math.inf] * missing
    return {"samples": len(values), "expected": expected, "delivered": len(values) / expected if expected else 0.0,
            "p50_ms": ms(percentile(full, 0.50)), "p90_ms": ms(percentile(full, 0.90)),
            "p99_ms": ms(percentile(full, 0.99)), "max_ms": values[-1] * 1000 if values else None}


def fanout(clients: list[tuple[list[int], list[float]]], produced: dict[int, float]) -> dict[str, Any]:
    delays: list[float] = []
    first: dict[int, float] = {}
    last: dict[int, float] = {}
    for versions, times in clients:
        arrived = dict(zip(versions, times, strict=True))
        for version, sent in produced.items():
            at = arrived.get(version)
            if at is not None:
                delays.append(at - sent)
                first[version] = min(first.get(version, at), at)
                last[version] = max(last.get(version, at), at)
    result = summary(delays, len(clients) * len(produced))
    # the first client's delay is the pipeline (Kafka -> server); first-to-last is the fan-out itself
    firsts = sorted(first[v] - produced[v] for v in first)
    spreads = sorted(last[v] - first[v] for v in first)
    result["first_client_p50_ms"] = ms(percentile(firsts, 0.50))
    result["spread_p50_ms"] = ms(percentile(spreads, 0.50))
    result["spread_max_ms"] = spreads[-1] * 1000 if spreads else None
    return result


def first_versions(boards: dict[int, dict[str, int]], user_ids: dict[int, str], points: int,
                   posts: list[tuple[int, int]]) -> list[int | None]:
    """For each (user, j): the first version whose board shows the user at ``>= j * points`` (None: never)."""
    ordered = sorted(boards)
    by_user: dict[int, list[tuple[int, int]]] = defaultdict(list)  # user -> [(score, version)] by version
    for version in ordered:
        board = boards[version]
        for user, uid in user_ids.items():
            score = board.get(uid)
            if score is not None:
                by_user[user].append((score, version))
    running: dict[int, list[int]] = {}
    for user, seq in by_user.items():  # scores only grow along versions: search the running maximum
        best, row = 0, []
        for score, _ in seq:
            best = max(best, score)
            row.append(best)
        running[user] = row
    found: list[int | None] = []
    for user, j in posts:
        seq = by_user.get(user, [])
        i = bisect.bisect_left(running.get(user, []), j * points)
        found.append(seq[i][1] if i < len(seq) else None)
    return found


def end_to_end(clients: list[tuple[list[int], list[float]]], boards: dict[int, dict[str, int]],
               user_ids: dict[int, str], points: int, sends: list[tuple[int, int, float]],
               per_event: int = 20, seed: int = 3) -> dict[str, Any]:
    """Delay from each POST's send to each sampled client's receipt of a board containing it."""
    versions = first_versions(boards, user_ids, points, [(u, j) for u, j, _ in sends])
    by_version: dict[int, list[float]] = defaultdict(list)
    for (_, _, sent), version in zip(sends, versions, strict=True):
        if version is not None:
            by_version[version].append(sent)
    rng = random.Random(seed)
    sample = min(per_event, len(clients))
    delays: list[float] = []
    worst = 0.0
    for version, sent_times in by_version.items():
        row: list[float | None] = []  # when each client got this version or a later one
        for vs, ts in clients:
            i = bisect.bisect_left(vs, version)
            row.append(ts[i] if i < len(vs) else None)
        got = [a for a in row if a is not None]
        if got:
            worst = max(worst, max(got) - min(sent_times))
        for sent in sent_times:
            for c in rng.sample(range(len(clients)), sample):
                arrived = row[c]
                if arrived is not None:
                    delays.append(arrived - sent)
    expected = sample * len(sends)
    result = summary(delays, expected)
    result["max_ms"] = worst * 1000 if delays else None  # the slowest client of all, not only the sampled ones
    result["events"] = len(sends)
    result["events_never_seen"] = sum(v is None for v in versions)
    result["boards_read_by_probes"] = len(boards)
    return result


def standings(arrivals: list[list[list[float]]], truth: dict[str, Any]) -> dict[str, Any]:
    """Personal streams: delay from the produce of each event that changed a tracked user's (score, rank) to that
    user's client receiving a ``standing`` event showing that state or a later one.

    ``arrivals[c]`` is client c's ``[score, rank, t]`` per standing event (in arrival order); ``truth["changes"]``
    is ``[c, score, rank, produced_t]`` per change the bench worked out. Scores only grow in this workload, so a
    client's (score, rank) only grows, lexicographically (its own event raises its score; others only overtake
    it, raising its rank number): the first arrival at or past the expected state is the delivery. Arrivals that
    match no expected state are counted (``unexpected``): the simulation and the server disagree.
    """
    delays: list[float] = []
    expected_states: dict[int, set[tuple[int, int]]] = defaultdict(set)
    for c, score, rank, _ in truth["changes"]:
        expected_states[int(c)].add((int(score), int(rank)))
    unexpected = 0
    for c, score, rank, produced in truth["changes"]:
        got = arrivals[int(c)] if int(c) < len(arrivals) else []
        keys = [(int(a[0]), int(a[1])) for a in got]
        i = bisect.bisect_left(keys, (int(score), int(rank)))
        if i < len(got):
            delays.append(got[i][2] - produced)
    for c, got in enumerate(arrivals):
        unexpected += sum(1 for a in got if (int(a[0]), int(a[1])) not in expected_states[c])
    result = summary(delays, len(truth["changes"]))
    result["changes"] = len(truth["changes"])
    result["standing_events"] = sum(len(a) for a in arrivals)
    result["unexpected"] = unexpected
    return result
