"""A private ``redis-server`` (Debian's package) on a free loopback port, no persistence, stopped by the bench."""

from __future__ import annotations

import shutil
from pathlib import Path

import redis.asyncio as aioredis

from bench.procs import clean_env
from tools.kafka_local import free_port
from tools.supervisor import Supervisor

READY_LINE = "Ready to accept connections"


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError("redis-server is not installed: `make bench` installs Debian's redis-server package")
    return found


class RedisServer(Supervisor):
    """Ready when it logs ``READY_LINE`` (redis has no HTTP endpoint); ``name`` names its log in ``log_dir``."""

    def __init__(self, log_dir: Path, name: str = "redis-server") -> None:
        self.port = free_port()
        argv = [redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--daemonize", "no", "--dir", str(log_dir), "--logfile", ""]
        super().__init__(argv, env=clean_env(), name=name, log_path=log_dir / f"{name}.log", ready_line=READY_LINE)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def delete(self, *keys: str) -> None:
        client = aioredis.Redis.from_url(self.url)
        try:
            await client.delete(*keys)
        finally:
            await client.aclose()
