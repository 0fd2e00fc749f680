"""The chaos run's load and its oracle: every request a client made, what the stack answered, and what must follow.

Why an oracle and not a count of records: the claim under test is the client contract of ``POST /scores`` — a
request that got a 5xx or no answer at all (connection refused or reset, a timeout) is retried with the *same*
``Idempotency-Key`` until it gets a definitive answer, and then counts exactly once if that answer was 200 or 202
and not at all if it was 422. So each client keeps every request it ever sent, retries it until it is decided, and
the expected all-time total of a user is the sum of the points of that user's accepted requests. What the stack
holds afterwards is compared with that (:func:`verify`): the read API's total of every user, the board's top, and
the worker's answers on ``score-applied`` (at least once by contract: deduplicated by ``event_id``), so a lost
event and an event counted twice are each named by id.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer

from schemas.runtime.kafka import assign_all_partitions

# a mix of gains and a penalty (schemas/actions.example.yaml, the catalog the API and the worker load by default)
ACTIONS = (("win_match", 25, 5), ("daily_login", 5, 3), ("complete_level_5", 50, 1), ("report_abuse_confirmed", -20, 1))
RETRY_PACE_S = 0.2  # how often a client retries an undecided request, as a client would
DEFINITIVE = (200, 202, 422)


@dataclass
class Request:
    key: str
    user: str
    action: str
    points: int
    attempts: int = 0
    status: int | None = None  # the definitive answer: 200, 202 or 422
    event_id: str | None = None
    new_score: int | None = None
    retried_for: Counter[str] = field(default_factory=Counter)  # why it was retried: "503", "ConnectError"...


class Oracle:
    """Every request sent, by Idempotency-Key; accepted = answered 200 or 202."""

    def __init__(self, users: list[str], seed: int) -> None:
        self.users = users
        self.rng = random.Random(seed)
        self.requests: dict[str, Request] = {}
        self.weights = [w for *_, w in ACTIONS]

    def new(self, prefix: str, user: str | None = None) -> Request:
        action, points, _ = self.rng.choices(ACTIONS, self.weights)[0]
        key = f"{prefix}-{len(self.requests)}"
        req = Request(key, user or self.rng.choice(self.users), action, points)
        self.requests[key] = req
        return req

    def accepted(self) -> list[Request]:
        return [r for r in self.requests.values() if r.status in (200, 202)]

    def undecided(self) -> list[Request]:
        return [r for r in self.requests.values() if r.status is None]

    def expected_totals(self) -> dict[str, int]:
        totals = dict.fromkeys(self.users, 0)
        for r in self.accepted():
            totals[r.user] += r.points
        return totals

    def figures(self) -> dict[str, Any]:
        statuses = Counter(str(r.status) for r in self.requests.values())
        retried = [r for r in self.requests.values() if r.attempts > 1]
        why: Counter[str] = Counter()
        for r in retried:
            why.update(r.retried_for)
        return {"requests": len(self.requests), "accepted": len(self.accepted()), "statuses": dict(statuses),
                "retried_requests": len(retried), "attempts": sum(r.attempts for r in self.requests.values()),
                "retry_causes": dict(why.most_common())}


class Client:
    """Posts one request at a time and retries it, same key, until a definitive answer or ``give_up_at``."""

    def __init__(self, api_url: str, api_key: str, oracle: Oracle) -> None:
        self.http = httpx.AsyncClient(base_url=api_url, timeout=httpx.Timeout(15.0, connect=2.0))
        self.api_key = api_key
        self.oracle = oracle

    async def close(self) -> None:
        await self.http.aclose()

    async def settle(self, req: Request, *, respond_async: bool, give_up_at: Callable[[], float]) -> bool:
        """Send ``req`` until decided; False if ``give_up_at()`` (monotonic) passed first (it stays undecided)."""
        body = orjson.dumps({"user_id": req.user, "action_id": req.action})
        headers = {"x-api-key": self.api_key, "content-type": "application/json", "idempotency-key": req.key}
        if respond_async:
            headers["prefer"] = "respond-async"
        while time.monotonic() < give_up_at():
            req.attempts += 1
            try:
                resp = await self.http.post("/scores", content=body, headers=headers)
            except httpx.HTTPError as exc:  # refused, reset, timed out: the outcome is unknown, retry
                req.retried_for[type(exc).__name__] += 1
            else:
                if resp.status_code in DEFINITIVE:
                    answer = resp.json() if resp.status_code != 422 else {}
                    req.status, req.event_id = resp.status_code, answer.get("event_id")
                    req.new_score = answer.get("new_score")
                    return True
                req.retried_for[str(resp.status_code)] += 1  # 5xx, 429: retry with the same key
            await asyncio.sleep(RETRY_PACE_S)
        return False


class Load:
    """``clients`` closed-loop clients sharing a pace of ``rate`` new requests per second; half ask for 202."""

    def __init__(self, api_url: str, api_key: str, oracle: Oracle, clients: int, rate: float) -> None:
        self.clients = [Client(api_url, api_key, oracle) for _ in range(clients)]
        self.oracle = oracle
        self.interval = 1.0 / rate
        self.next_slot = 0.0
        self.stopping = asyncio.Event()
        self.give_up_at = float("inf")
        self.tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self.next_slot = time.monotonic()
        self.tasks = [asyncio.create_task(self._run(i, c)) for i, c in enumerate(self.clients)]

    async def _pace(self) -> None:
        slot = max(self.next_slot, time.monotonic())
        self.next_slot = slot + self.interval
        await asyncio.sleep(slot - time.monotonic())

    async def _run(self, index: int, client: Client) -> None:
        rng = random.Random(index)
        while not self.stopping.is_set():
            await self._pace()
            req = self.oracle.new(f"c{index}")
            # a started request is finished even after stop(): the drain below bounds it
            await client.settle(req, respond_async=rng.random() < 0.5, give_up_at=lambda: self.give_up_at)

    async def stop(self, drain_s: float) -> None:
        """No new requests; every request under way is retried until decided, for at most ``drain_s``."""
        self.give_up_at = time.monotonic() + drain_s
        self.stopping.set()
        await asyncio.gather(*self.tasks)
        for client in self.clients:
            await client.close()


async def read_applied(bootstrap: str, topic: str, timeout: float = 120.0) -> list[dict[str, Any]]:
    """Every record of ``score-applied`` up to its end offsets now (all partitions from the start, no group)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                                auto_offset_reset="earliest")
    await consumer.start()
    out: list[dict[str, Any]] = []
    try:
        tps = await assign_all_partitions(consumer, topic)
        ends = await consumer.end_offsets(tps)
        deadline = time.monotonic() + timeout
        behind = set(tps)
        while behind:
            batch = await consumer.getmany(timeout_ms=500)
            for recs in batch.values():
                out.extend(orjson.loads(r.value) for r in recs if r.value is not None)
            behind = {tp for tp in behind if await consumer.position(tp) < ends[tp]}
            if behind and time.monotonic() > deadline:
                where = {tp.partition: (await consumer.position(tp), ends[tp]) for tp in behind}
                raise TimeoutError(f"{topic} not read to its end within {timeout}s: (position, end) {where}")
    finally:
        await consumer.stop()
    return out


async def read_totals(sse_url: str, users: list[str]) -> dict[str, int | None]:
    """Each user's all-time total as the read API serves it (None: no score there)."""
    totals: dict[str, int | None] = {}
    async with httpx.AsyncClient(base_url=sse_url, timeout=10.0) as http:
        for user in users:
            resp = await http.get(f"/leaderboard/users/{user}")
            totals[user] = resp.json().get("score") if resp.status_code == 200 else None
    return totals


async def wait_settled(sse_url: str, oracle: Oracle, timeout: float) -> tuple[dict[str, int | None], float]:
    """Poll the read API until every user's total is the oracle's (or ``timeout``); the last totals and the time."""
    expected = oracle.expected_totals()
    started = time.monotonic()
    totals: dict[str, int | None] = {}
    while True:
        try:
            totals = await read_totals(sse_url, oracle.users)
        except httpx.HTTPError:
            totals = {}
        if totals and all((totals[u] or 0) == expected[u] for u in oracle.users):
            return totals, time.monotonic() - started
        if time.monotonic() - started > timeout:
            return totals, time.monotonic() - started
        await asyncio.sleep(0.5)


async def wait_board(sse_url: str, oracle: Oracle, timeout: float, rows: int = 10) -> bool:
    """The all-time board's top ``rows`` scores become the oracle's top scores (within ``timeout``)."""
    top = sorted(oracle.expected_totals().values(), reverse=True)[:rows]
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=sse_url, timeout=10.0) as http:
        while time.monotonic() < deadline:
            try:
                resp = await http.get("/leaderboard", params={"limit": rows})
                if resp.status_code == 200 and [r["score"] for r in resp.json()["data"]] == top:
                    return True
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5)
    return False


def verify(oracle: Oracle, totals: dict[str, int | None], applied: list[dict[str, Any]]) -> dict[str, Any]:
    """Lost, doubled and unexpected events (by id, from ``score-applied``) and users whose total is not exact."""
    answers: dict[str, set[int]] = defaultdict(set)
    for rec in applied:
        answers[rec["event_id"]].add(rec["new_score"])
    accepted = {r.event_id or f"no event id in the answer to {r.key}": r for r in oracle.accepted()}
    refused = {r.event_id for r in oracle.requests.values() if r.status == 422}
    lost = sorted(eid for eid in accepted if eid not in answers)
    doubled = sorted(eid for eid, scores in answers.items() if len(scores) > 1)
    unexpected = sorted(eid for eid in answers if eid not in accepted and eid not in refused)
    expected = oracle.expected_totals()
    actual = {u: totals.get(u) or 0 for u in oracle.users}  # no score on the board: 0
    wrong = {u: {"expected": expected[u], "actual": actual[u]} for u in oracle.users if actual[u] != expected[u]}
    missing_points = sum(max(0, expected[u] - actual[u]) for u in wrong)
    extra_points = sum(max(0, actual[u] - expected[u]) for u in wrong)
    return {"lost": len(lost), "doubled": len(doubled), "unexpected": len(unexpected),
            "lost_ids": lost[:20], "doubled_ids": doubled[:20], "unexpected_ids": unexpected[:20],
            "users_wrong": len(wrong), "wrong_totals": dict(list(wrong.items())[:20]),
            "missing_points": missing_points, "extra_points": extra_points,
            "applied_records": len(applied), "applied_events": len(answers)}
