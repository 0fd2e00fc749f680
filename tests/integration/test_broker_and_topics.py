"""The foundation on the real broker: contract topics exist with their settings, and records round-trip."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from schemas.events import ScoreEvent
from schemas.runtime.kafka import plaintext
from schemas.runtime.topic_admin import ensure_topics
from schemas.topics import TopicSpec, contract_topics
from tests.fixtures.kafka import Topics, consume_until

pytestmark = pytest.mark.integration


async def _describe(bootstrap: str, names: list[str]) -> tuple[dict[str, int], dict[str, dict[str, str]]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(names)
        partitions = {t["topic"]: len(t["partitions"]) for t in described}
        resources = [ConfigResource(ConfigResourceType.TOPIC, n) for n in names]
        configs: dict[str, dict[str, str]] = {}
        for response in await admin.describe_configs(resources):
            for _err, _msg, _type, name, entries in response.resources:
                configs[name] = {e[0]: e[1] for e in entries}
        return partitions, configs
    finally:
        await admin.close()


async def test_topics_created_with_contract_settings(
    bootstrap: str, make_topics: Callable[..., Awaitable[Topics]]
) -> None:
    topics = await make_topics(partitions=6)
    names = topics.names
    partitions, configs = await _describe(
        bootstrap, [names.score_events, names.dlq, names.applied, names.leaderboard_updates]
    )
    assert partitions[names.score_events] == 6
    assert partitions[names.applied] == 6
    assert partitions[names.leaderboard_updates] == 1
    assert configs[names.leaderboard_updates]["cleanup.policy"] == "compact"
    assert configs[names.score_events]["retention.ms"] == "-1"
    assert configs[names.score_events]["cleanup.policy"] == "delete"
    assert configs[names.score_events]["message.timestamp.type"] == "LogAppendTime"


async def _settings_of(bootstrap: str, topic: str, timeout: float = 30.0) -> dict[str, str]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        _, configs = await _describe(bootstrap, [topic])
        if "message.timestamp.type" in configs.get(topic, {}):
            return configs[topic]
        assert asyncio.get_running_loop().time() < deadline, f"no settings described for {topic}"
        await asyncio.sleep(0.1)


async def test_an_existing_score_events_topic_gets_broker_timestamps_and_keeps_its_settings(
    bootstrap: str, make_topics: Callable[..., Awaitable[Topics]], producer: AIOKafkaProducer
) -> None:
    topics = await make_topics(partitions=1)
    names = topics.names
    old = TopicSpec(f"{names.score_events}-old", 2, {"retention.ms": "123456789", "cleanup.policy": "delete"})
    await ensure_topics(plaintext(bootstrap), [old])  # as created before the rule existed: producer timestamps
    before = await _settings_of(bootstrap, old.name)  # a new topic's settings take a moment to be described
    assert before["message.timestamp.type"] == "CreateTime"
    spec = next(s for s in contract_topics(names, 1) if s.name == names.score_events)
    await ensure_topics(plaintext(bootstrap), [TopicSpec(old.name, 2, spec.config, 1, spec.enforced)])
    after = await _settings_of(bootstrap, old.name)
    assert after["message.timestamp.type"] == "LogAppendTime"
    assert after["retention.ms"] == "123456789"  # its own settings kept
    meta = await producer.send_and_wait(old.name, b"v", key=b"k", timestamp_ms=0)  # a producer's 1970 clock
    assert meta.timestamp != 0  # the broker's time, not the producer's


async def test_ensure_topics_is_idempotent(bootstrap: str, make_topics: Callable[..., Awaitable[Topics]]) -> None:
    topics = await make_topics(partitions=2)
    again = await ensure_topics(plaintext(bootstrap), contract_topics(topics.names, 2))
    assert again == []


async def test_score_event_round_trip(
    bootstrap: str, make_topics: Callable[..., Awaitable[Topics]], producer: AIOKafkaProducer
) -> None:
    topics = await make_topics(partitions=3)
    sent = [ScoreEvent(user_id=f"user-{i}", action_id="win_match", event_id=f"e{i}") for i in range(20)]
    await asyncio.gather(*[
        producer.send_and_wait(topics.names.score_events, ev.model_dump_json().encode(), key=ev.user_id.encode())
        for ev in sent
    ])
    records = await consume_until(bootstrap, topics.names.score_events, lambda recs: len(recs) >= 20)
    got = {ScoreEvent.model_validate(orjson.loads(r.value)) for r in records}
    assert got == set(sent)
    for r in records:  # keyed by user_id, so one user's events share a partition
        assert r.key == orjson.loads(r.value)["user_id"].encode()
