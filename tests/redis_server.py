"""A private Redis server on 127.0.0.1 that a test can stop and start again: the broker of
the fault tests (the shared one on port 6379 stays up for everyone else)."""

from __future__ import annotations

import subprocess
import tempfile
from typing import Any

import redis

from tests.processes import Service, free_port, stop_process, wait_until


class RedisServer(Service):
    """``redis-server`` on a port of its own, keeping nothing on disk. ``stop()`` then
    ``start()`` is a broker outage: what it held is gone, as when a broker is lost."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[Any] | None = None
        self.directory = tempfile.TemporaryDirectory(prefix="dsr-redis-")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def answers(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=1).ping())
        except redis.ConnectionError:
            return False

    def start(self) -> RedisServer:
        command = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", self.directory.name,
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        wait_until(self.answers, what=f"Redis on port {self.port}")
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None
        wait_until(lambda: not self.answers(), what=f"Redis on port {self.port} to stop")

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        self.directory.cleanup()
