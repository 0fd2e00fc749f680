"""``make run``'s banner line for curl with the user's own keys: never the keys themselves, and the key alone
(what ``X-API-KEY`` takes) when the first entry is ``id:key``."""

from __future__ import annotations

import subprocess

import pytest

from tools.run_stack import export_line_for

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("keys", "expected"), [
    ("bare-0123456789abcdef,other", "bare-0123456789abcdef"),
    ("acme:0123456789abcdef,acme:fedcba9876543210", "0123456789abcdef"),
    ("acme:key:with:colons,x", "key:with:colons"),
])
def test_the_export_line_gives_the_first_key_as_x_api_key_takes_it(keys: str, expected: str) -> None:
    line = export_line_for(keys)
    assert keys.split(",")[0] not in line.replace("${SCOREBOARD_API_KEYS%%,*}", "")  # no key printed
    done = subprocess.run(["bash", "-c", f"{line}; printf %s \"$KEY\""], env={"SCOREBOARD_API_KEYS": keys},
                          capture_output=True, text=True, check=True)
    assert done.stdout == expected
