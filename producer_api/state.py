"""What the lifespan holds for the routes: the catalog, the boards, the metrics and the Kafka clients (the producer,
the reply listener, the moderation results listener).

The Kafka clients are None only in an app built with ``with_broker=False`` (HTTP-layer tests), where every
request that would need the event log answers 503.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from producer_api.kafka_io import EventLog
from producer_api.metrics import ApiMetrics
from producer_api.moderation_results import ModerationResults
from producer_api.replies import ReplyListener
from producer_api.settings import ApiSettings
from schemas.boards import Boards
from schemas.catalog import ActionCatalog


@dataclass(frozen=True)
class ApiState:
    settings: ApiSettings
    catalog: ActionCatalog
    boards: Boards
    metrics: ApiMetrics
    event_log: EventLog | None
    replies: ReplyListener | None
    moderation: ModerationResults | None = None


async def _api_state(request: Request) -> ApiState:  # async: sync dependencies run in a thread pool
    state = request.state.api
    if not isinstance(state, ApiState):
        raise RuntimeError("producer_api lifespan did not run")
    return state


State = Annotated[ApiState, Depends(_api_state)]
