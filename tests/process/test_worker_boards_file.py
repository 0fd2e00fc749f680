"""The worker refuses an invalid boards file at start (exit 2, one sentence naming board and field, no traceback),
before it connects: the file is checked against the action catalog like the other services do."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.process.test_refused_starts import no_broker_env, run

pytestmark = pytest.mark.process


@pytest.mark.parametrize(("text", "needle"), [
    ("fastest: {aggregation: fastest}", "board 'fastest': aggregation: Input should be"),
    ("local: {timezone: Europe/Atlantis}", "board 'local': timezone: 'Europe/Atlantis' is not an IANA"),
    ("wins: {actions: [win_the_lottery]}", "board 'wins': actions: 'win_the_lottery' is not in the action catalog"),
])
def test_the_worker_refuses_an_invalid_boards_file_naming_board_and_field(tmp_path: Path, text: str,
                                                                          needle: str) -> None:
    boards = tmp_path / "boards.yaml"
    boards.write_text(text + "\n")
    result = run("stream_app", no_broker_env(SCOREBOARD_BOARDS_FILE=str(boards),
                                             SCOREBOARD_WORKER_DATA_DIR=str(tmp_path)))
    assert result.returncode == 2, result.stderr
    assert f"stream_app: configuration error: boards file {boards}: {needle}" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
