"""Settings of the read/stream API (``sse_server``): one frozen class, built in ``main()`` or by tests."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from schemas.settings import CommonSettings, HttpServerSettings, env

DEFAULT_ACCENT = "#6c8cff"
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
HEX_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")
NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:%|deg|turn|rad|grad)?"
FUNCTION_COLOUR = re.compile(rf"(?:rgba?|hsla?)\(\s*{NUMBER}(?:\s*[,/]?\s*{NUMBER}){{2,3}}\s*\)", re.IGNORECASE)
NAMED_COLOURS = frozenset("""
    aliceblue antiquewhite aqua aquamarine azure beige bisque black blanchedalmond blue blueviolet brown burlywood
    cadetblue chartreuse chocolate coral cornflowerblue cornsilk crimson cyan darkblue darkcyan darkgoldenrod
    darkgray darkgreen darkgrey darkkhaki darkmagenta darkolivegreen darkorange darkorchid darkred darksalmon
    darkseagreen darkslateblue darkslategray darkslategrey darkturquoise darkviolet deeppink deepskyblue dimgray
    dimgrey dodgerblue firebrick floralwhite forestgreen fuchsia gainsboro ghostwhite gold goldenrod gray green
    greenyellow grey honeydew hotpink indianred indigo ivory khaki lavender lavenderblush lawngreen lemonchiffon
    lightblue lightcoral lightcyan lightgoldenrodyellow lightgray lightgreen lightgrey lightpink lightsalmon
    lightseagreen lightskyblue lightslategray lightslategrey lightsteelblue lightyellow lime limegreen linen magenta
    maroon mediumaquamarine mediumblue mediumorchid mediumpurple mediumseagreen mediumslateblue mediumspringgreen
    mediumturquoise mediumvioletred midnightblue mintcream mistyrose moccasin navajowhite navy oldlace olive
    olivedrab orange orangered orchid palegoldenrod palegreen paleturquoise palevioletred papayawhip peachpuff peru
    pink plum powderblue purple rebeccapurple red rosybrown royalblue saddlebrown salmon sandybrown seagreen
    seashell sienna silver skyblue slateblue slategray slategrey snow springgreen steelblue tan teal thistle tomato
    turquoise violet wheat white whitesmoke yellow yellowgreen
""".split())


def is_css_colour(value: str) -> bool:
    """A colour the page's accent may be: hex, rgb()/hsl() of plain numbers, or a named colour; nothing else
    (no ``url()``, ``var()``, ``;`` or anything that could reach beyond one CSS value)."""
    return bool(HEX_COLOUR.fullmatch(value) or FUNCTION_COLOUR.fullmatch(value)
                or value.lower() in NAMED_COLOURS)


class SseSettings(HttpServerSettings, CommonSettings):
    """Everything in ``CommonSettings`` and ``HttpServerSettings`` (``SCOREBOARD_HTTP_REQUEST_TIMEOUT_S``,
    ``SCOREBOARD_HTTP_MAX_HEADER_BYTES``) plus the read/stream API's own names.

    Environment:
      SCOREBOARD_SSE_HOST         interface to bind (default ``127.0.0.1``)
      SCOREBOARD_SSE_PORT         port to bind (default ``8001``)
      SCOREBOARD_TOP_K            (inherited) ranks kept per board; the largest ``limit`` (default 100)
      SCOREBOARD_SSE_HEARTBEAT_S  seconds between ``: ping`` comment heartbeats, at most 15 (default 15)
      SCOREBOARD_SSE_RETRY_MS     the ``retry:`` reconnect hint sent to browsers, in ms (default 3000)
      SCOREBOARD_CORS_ORIGINS     comma-separated browser origins allowed by CORS (default empty: no CORS)
      SCOREBOARD_SSE_MAX_STREAMS  open streams (board and personal) one process holds; past it a new one is ``503``
                                  with ``Retry-After`` (default 10000: what bench 4 measured one process holding)
      SCOREBOARD_SSE_MAX_STREAMS_PER_CLIENT  open streams one client address holds; past it ``429`` with
                                  ``Retry-After`` (default 50)
      SCOREBOARD_SSE_FORWARDED_ALLOW_IPS  comma-separated proxy addresses or CIDR ranges trusted to set
                                  ``X-Forwarded-For``: from them the client address is the right-most untrusted
                                  one of that header, else the peer (default ``127.0.0.1,::1``); behind an
                                  ingress set its range, or every stream counts as the ingress's address
      SCOREBOARD_SSE_STANDING_INTERVAL_MS  how often personal streams (``?user_id=``) are checked for a moved
                                  standing, in ms (default 100): standing events are coalesced to this
      SCOREBOARD_PERIOD_RETENTION_DAYS  days a daily/weekly period stays in the rank index after it ends (default 7,
                                  as the worker)
      SCOREBOARD_PAGE_TITLE       the live page's title and heading, 1-80 characters, no control characters
                                  (default ``Scoreboard``); shown as text, never as markup
      SCOREBOARD_PAGE_ACCENT      the live page's accent colour: ``#rgb``, ``#rrggbb`` (with alpha: 4 or 8 digits),
                                  ``rgb()``/``rgba()``/``hsl()``/``hsla()`` with numbers, or a CSS colour name
                                  (default ``#6c8cff``)

    The page reads the last two from ``GET /page-config.json``.
    """

    model_config = SettingsConfigDict(frozen=True)

    sse_host: str = Field("127.0.0.1", validation_alias=env("SCOREBOARD_SSE_HOST"))
    sse_port: int = Field(8001, ge=0, le=65535, validation_alias=env("SCOREBOARD_SSE_PORT"))
    sse_heartbeat_s: float = Field(15.0, gt=0, le=15, validation_alias=env("SCOREBOARD_SSE_HEARTBEAT_S"))
    sse_retry_ms: int = Field(3000, ge=0, le=600_000, validation_alias=env("SCOREBOARD_SSE_RETRY_MS"))
    sse_standing_interval_ms: int = Field(100, ge=10, le=60_000,
                                          validation_alias=env("SCOREBOARD_SSE_STANDING_INTERVAL_MS"))
    period_retention_days: int = Field(7, ge=0, validation_alias=env("SCOREBOARD_PERIOD_RETENTION_DAYS"))
    cors_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        (), validation_alias=env("SCOREBOARD_CORS_ORIGINS")
    )
    sse_max_streams: int = Field(10_000, ge=1, le=1_000_000, validation_alias=env("SCOREBOARD_SSE_MAX_STREAMS"))
    sse_max_streams_per_client: int = Field(50, ge=1, le=1_000_000,
                                            validation_alias=env("SCOREBOARD_SSE_MAX_STREAMS_PER_CLIENT"))
    sse_forwarded_allow_ips: str = Field("127.0.0.1,::1", validation_alias=env("SCOREBOARD_SSE_FORWARDED_ALLOW_IPS"))
    page_title: str = Field("Scoreboard", min_length=1, max_length=80, validation_alias=env("SCOREBOARD_PAGE_TITLE"))
    page_accent: str = Field(DEFAULT_ACCENT, validation_alias=env("SCOREBOARD_PAGE_ACCENT"))

    @property
    def period_retention(self) -> timedelta:
        return timedelta(days=self.period_retention_days)

    @field_validator("page_title")
    @classmethod
    def _plain_title(cls, value: str) -> str:
        value = value.strip()
        if not value or CONTROL.search(value):
            raise ValueError("a page title is 1-80 characters of text, without control characters")
        return value

    @field_validator("page_accent")
    @classmethod
    def _css_colour(cls, value: str) -> str:
        value = value.strip()
        if not is_css_colour(value):
            raise ValueError(f"not a CSS colour this page accepts: {value!r} (use #rrggbb, rgb(...), hsl(...) "
                             "or a colour name)")
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value
