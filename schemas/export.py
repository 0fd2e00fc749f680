"""Export JSON Schema files of the shared records for producers and consumers written in other languages.

``python -m schemas.export`` rewrites ``schemas/jsonschema/*.json``; a test fails when they are stale.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from schemas.boards import BoardProgress
from schemas.events import ScoreApplied, ScoreEvent, ScoreRequest
from schemas.leaderboard import LeaderboardSnapshot
from schemas.moderation import ModerationCommand, ModerationResult
from schemas.standings import PeriodFinal, RankChange, UserStanding

OUT = Path(__file__).with_name("jsonschema")
MODELS: dict[str, type[BaseModel]] = {
    "score-event": ScoreEvent,
    "score-applied": ScoreApplied,
    "score-request": ScoreRequest,
    "leaderboard-snapshot": LeaderboardSnapshot,
    "rank-change": RankChange,
    "user-standing": UserStanding,
    "leaderboard-final": PeriodFinal,
    "moderation-command": ModerationCommand,
    "moderation-result": ModerationResult,
    "board-progress": BoardProgress,
}


def render() -> dict[str, str]:
    """File name -> JSON text of every exported schema."""
    return {
        f"{name}.schema.json": json.dumps(model.model_json_schema(mode="validation"), indent=2, sort_keys=True)
        + "\n"
        for name, model in MODELS.items()
    }


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for filename, text in render().items():
        (OUT / filename).write_text(text, encoding="utf-8")
        print(f"wrote {OUT / filename}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
