"""Starting ``python -m producer_api`` in dev mode without keys: it starts, warns and answers 401 (the refused starts,
which need no broker, are in ``tests/process/test_refused_starts.py``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest

from tests.fixtures.kafka import Topics
from tools.supervisor import Supervisor

pytestmark = pytest.mark.integration

StartApi = Callable[..., tuple[Supervisor, str]]
MakeTopics = Callable[..., Awaitable[Topics]]


async def test_dev_mode_without_keys_starts_warns_and_answers_401(
    make_topics: MakeTopics, start_api: StartApi
) -> None:
    topics = await make_topics()
    process, url = start_api(topics, api_keys="")
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
        response = await client.post("/scores", content=b'{"user_id": "u", "action_id": "win_match"}',
                                      headers={"content-type": "application/json", "x-api-key": "anything"})
    assert response.status_code == 401
    assert "every POST /scores and GET /actions will be 401" in process.output()
