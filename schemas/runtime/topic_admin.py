"""Creating the contract's topics: ``scoreboard-topics``, also run by ``make run``, the worker at start and the
compose topic-init service.

It creates what is missing and is safe to run at every start. Existing topics are left alone except for the
settings the worker's correctness rests on (``TopicSpec.enforced``): an existing ``score-events`` without broker
timestamps is altered (its other settings kept).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from schemas.runtime.kafka import BrokerRefused, client_options
from schemas.settings import CommonSettings, describe_invalid
from schemas.topics import TopicSpec, contract_topics

log = logging.getLogger(__name__)

TOPIC_ALREADY_EXISTS = 36  # Kafka protocol error code
DYNAMIC_TOPIC_CONFIG = 1  # DescribeConfigs config_source of a topic's own setting


async def ensure_topics(options: Mapping[str, Any], specs: list[TopicSpec], timeout: float = 60.0) -> list[str]:
    """Create the topics that do not exist yet; return the names created. Existing topics are not altered.

    ``options`` says how to connect: ``client_options(settings)``, or ``plaintext(bootstrap)`` for an unsecured
    broker. Every spec is sent to the controller and ``TOPIC_ALREADY_EXISTS`` counts as success: listing first
    would race with metadata propagation and with other creators. A broker refusing the login or the TLS handshake
    raises :class:`~schemas.runtime.kafka.BrokerRefused` at once.
    """
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import for_code

    from schemas.runtime.kafka import start_with_retry

    admin = await start_with_retry(
        lambda: AIOKafkaAdminClient(**options, request_timeout_ms=30000), "topics", timeout, options
    )
    created: list[str] = []
    try:
        response = await admin.create_topics(
            [NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=s.config) for s in specs]
        )
        for entry in response.topic_errors:
            name, code = entry[0], entry[1]
            if code == 0:
                created.append(name)
                log.info("created topic %s", name)
            elif code != TOPIC_ALREADY_EXISTS:
                raise for_code(code)(f"cannot create topic {name}: {entry[2] if len(entry) > 2 else ''}")
        for spec in specs:
            if spec.enforced and spec.name not in created:
                await _enforce(admin, spec)
        return created
    finally:
        await admin.close()


async def _enforce(admin: Any, spec: TopicSpec) -> None:
    """Set ``spec.enforced`` on an existing topic, keeping its other own settings (AlterConfigs replaces them all)."""
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
    from aiokafka.errors import for_code

    for attempt in range(50):  # a topic created a moment ago may not be described yet (UNKNOWN_TOPIC_OR_PARTITION)
        described = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, spec.name)])
        errors = [r[0] for response in described for r in response.resources if r[0] != 0]
        if not errors:
            break
        if attempt == 49:
            raise for_code(errors[0])(f"cannot read the settings of topic {spec.name}")
        await asyncio.sleep(0.1)
    own: dict[str, str] = {}
    for response in described:
        for resource in response.resources:
            for entry in resource[4]:
                name, value, dynamic = entry[0], entry[1], entry[3]
                # DescribeConfigs v0 says is_default (a bool), later versions the config source
                if value is not None and (dynamic is False if isinstance(dynamic, bool) else
                                          dynamic == DYNAMIC_TOPIC_CONFIG):
                    own[name] = value
    if all(own.get(k) == v for k, v in spec.enforced.items()):
        return
    altered = await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, spec.name,
                                                        configs={**own, **spec.enforced})])
    for response in altered:
        for resource in response.resources:
            if resource[0] != 0:
                raise for_code(resource[0])(f"cannot set {spec.enforced} on topic {spec.name}: {resource[1]}")
    log.warning("topic %s: set %s (the worker relies on it)", spec.name, spec.enforced)


def main(argv: list[str] | None = None) -> int:
    """``scoreboard-topics``: create the contract's topics (idempotent), configured like the services."""
    parser = argparse.ArgumentParser(prog="scoreboard-topics", description=main.__doc__)
    parser.parse_args(argv)
    try:
        settings = CommonSettings()
    except ValidationError as exc:
        print(f"scoreboard-topics: invalid settings: {describe_invalid(exc)}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
    specs = contract_topics(settings.topics, settings.partitions, settings.audit_retention_ms,
                            settings.replication_factor)
    try:
        created = asyncio.run(ensure_topics(client_options(settings), specs, settings.kafka_connect_timeout))
    except BrokerRefused as exc:
        print(f"scoreboard-topics: {exc}", file=sys.stderr)
        return 2
    print(f"topics: ready ({len(created)} created, {len(specs) - len(created)} already there)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
