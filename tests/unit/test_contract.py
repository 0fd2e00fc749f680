"""The public contract in ``docs/``: the exported OpenAPI of both APIs is current, and ``docs/asyncapi.yaml`` is
a valid AsyncAPI 3.0.0 document whose references resolve, which names every topic with its settings, whose
examples match their payload schemas and whose SSE names are the server's."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin, urlparse

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from schemas.topics import TopicNames, contract_topics
from sse_server.broadcast import EVENT_NAME, PING
from sse_server.personal import encode_standing
from tools import export_contract

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
ASYNCAPI = ROOT / "docs" / "asyncapi.yaml"
ASYNCAPI_URI = ASYNCAPI.as_uri()
META_SCHEMA = ROOT / "tests" / "data" / "asyncapi-3.0.0.schema.json"


def load(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    return yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)


@functools.cache
def retrieve(uri: str) -> Resource[Any]:
    """Only files of this repository: a reference that leaves it (or the file system) fails the test."""
    parsed = urlparse(uri)
    path = Path(parsed.path).resolve()
    assert parsed.scheme == "file" and path.is_relative_to(ROOT), f"{uri}: not a file of the repository"
    assert path.is_file(), f"{uri}: no such file"
    return Resource.from_contents(load(path), default_specification=DRAFT202012)


REGISTRY: Registry[Any] = Registry(retrieve=retrieve)  # type: ignore[call-arg]


def refs(node: Any, where: str = "#") -> Iterator[tuple[str, str]]:
    """Every ``$ref`` in ``node``, with the JSON pointer where it is."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield where, value
            else:
                yield from refs(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from refs(value, f"{where}/{i}")


def test_exported_openapi_documents_are_current() -> None:
    for filename, text in export_contract.render().items():
        path = export_contract.OUT / filename
        assert path.exists(), f"docs/openapi/{filename} missing: run `{export_contract.COMMAND}`"
        assert path.read_text(encoding="utf-8") == text, f"docs/openapi/{filename} is stale: run " \
                                                         f"`{export_contract.COMMAND}`"


def test_asyncapi_document_is_valid_asyncapi_3() -> None:
    schema = json.loads(META_SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(load(ASYNCAPI)), key=lambda e: list(e.absolute_path))
    described = [f"{'/'.join(map(str, e.absolute_path))}: {(jsonschema.exceptions.best_match([e])).message}"
                 for e in errors]
    assert described == []
    assert load(ASYNCAPI)["asyncapi"] == "3.0.0"


def test_every_reference_resolves_within_the_repository() -> None:
    """Every ``$ref`` of the document and of the files it references (transitively) points at something."""
    queue, seen, checked = [ASYNCAPI_URI], {ASYNCAPI_URI}, 0
    while queue:
        uri = queue.pop()
        resolver = REGISTRY.resolver(base_uri=uri)
        for where, ref in refs(load(Path(urlparse(uri).path))):
            try:
                resolver.lookup(ref)
            except Exception as exc:  # noqa: BLE001 - the message names what failed
                pytest.fail(f"{uri}{where}: $ref {ref!r} does not resolve: {exc!r}")
            checked += 1
            target = urldefrag(urljoin(uri, ref)).url
            if target not in seen:
                seen.add(target)
                queue.append(target)
    external = {Path(urlparse(u).path).relative_to(ROOT).as_posix() for u in seen} - {"docs/asyncapi.yaml"}
    assert {f"schemas/jsonschema/{n}.schema.json" for n in
            ("score-event", "score-applied", "leaderboard-snapshot", "user-standing", "rank-change",
             "leaderboard-final")} | {"docs/openapi/read-api.json"} <= external
    assert checked > 50


def test_every_contract_topic_is_a_channel_with_its_partitions_and_configuration() -> None:
    channels = {c["address"]: c for c in load(ASYNCAPI)["channels"].values()}
    for spec in contract_topics(TopicNames()):
        assert spec.name in channels, f"topic {spec.name} is not a channel of docs/asyncapi.yaml"
        kafka = channels[spec.name]["bindings"]["kafka"]
        assert kafka["partitions"] == spec.partitions, spec.name
        documented = {key: ",".join(value) if isinstance(value, list) else str(value)
                      for key, value in kafka["topicConfiguration"].items()}
        assert documented == spec.config, spec.name


def test_every_example_matches_its_payload_and_headers_schemas() -> None:
    messages = load(ASYNCAPI)["components"]["messages"]
    validated = 0
    for name, message in messages.items():
        for i, example in enumerate(message.get("examples", [])):
            for part in ("payload", "headers"):
                if part in example:
                    pointer = f"{ASYNCAPI_URI}#/components/messages/{name}/{part}"
                    validator = jsonschema.Draft202012Validator({"$ref": pointer}, registry=REGISTRY,
                                                                format_checker=jsonschema.FormatChecker())
                    errors = [e.message for e in validator.iter_errors(example[part])]
                    assert errors == [], f"{name} example {i} {part}"
                    validated += 1
    assert validated >= 12


def test_a_payload_schema_refuses_what_the_record_would_refuse() -> None:
    """The examples check is not vacuous: the referenced schemas do constrain the payloads."""
    validator = jsonschema.Draft202012Validator(
        {"$ref": f"{ASYNCAPI_URI}#/components/messages/scoreApplied/payload"}, registry=REGISTRY)
    assert not validator.is_valid({"event_id": "e", "user_id": "u"})
    stream = jsonschema.Draft202012Validator(
        {"$ref": f"{ASYNCAPI_URI}#/components/messages/leaderboardUpdate/payload"}, registry=REGISTRY)
    assert not stream.is_valid({"data": "not a list", "window": "hourly"})


def test_the_stream_names_are_the_servers() -> None:
    messages = load(ASYNCAPI)["components"]["messages"]
    assert messages["leaderboardUpdate"]["name"] == messages["leaderboardUpdate"]["x-sse"]["event"] == EVENT_NAME
    assert encode_standing({}).startswith(b"event: %s\n" % messages["standing"]["x-sse"]["event"].encode())
    assert PING == b": %s\n\n" % messages["heartbeat"]["x-sse"]["comment"].encode()


def test_the_dead_letter_headers_are_the_workers() -> None:
    headers = load(ASYNCAPI)["components"]["schemas"]["DeadLetterHeaders"]["properties"]
    written = set(re.findall(r'"(x-[a-z-]+)"', (ROOT / "stream_app" / "dlq.py").read_text(encoding="utf-8")))
    assert written == set(headers) == {"x-dlq-reason", "x-source-topic", "x-source-partition",
                                       "x-source-offset", "x-event-id", "x-dlq-truncated"}
