"""A real Prometheus (Debian's ``prometheus``) on 127.0.0.1, and promtool, for the tests of
deploy/prometheus/.

One process, its storage in a temporary directory, a configuration written by the test::

    with PrometheusServer(config=config, state_dir=tmp_path) as prometheus:
        prometheus.alerts()
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.processes import Service, answers, free_port, stop_process, wait_until

START_TIMEOUT = 30.0
DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "prometheus"


def binary(name: str) -> str:
    """``prometheus`` or ``promtool`` on PATH; an error naming the package when missing."""
    found = shutil.which(name)
    if found is None:
        raise AssertionError(
            f"{name} is not installed; on Debian: apt-get install prometheus (it ships "
            "prometheus and promtool; .ci/run installs it)."
        )
    return found


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def load(name: str) -> Any:
    """A shipped file of deploy/prometheus/, read as YAML."""
    return yaml.safe_load((DEPLOY / name).read_text())


class PrometheusServer(Service):
    """A ``prometheus`` process on a free port of 127.0.0.1; stopped on exit."""

    def __init__(self, *, config: dict[str, Any], rules: dict[str, Any], state_dir: Path) -> None:
        self.config = config
        self.rules = rules
        self.state_dir = state_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_file = state_dir / "prometheus.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> PrometheusServer:
        (self.state_dir / "slack_rules.rules.yml").write_text(yaml.safe_dump(self.rules))
        config_file = self.state_dir / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(self.config))
        command = [
            binary("prometheus"),
            f"--config.file={config_file}",
            f"--storage.tsdb.path={self.state_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=debug",
        ]
        with self.log_file.open("wb") as out:
            self.process = subprocess.Popen(
                command, cwd=self.state_dir, stdout=out, stderr=subprocess.STDOUT
            )
        wait_until(self._ready, START_TIMEOUT, "Prometheus to be ready")
        return self

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"Prometheus exited:\n{self.log()}")
        return answers(self.url + "/-/ready")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def api(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            answer = json.loads(response.read())
        assert answer["status"] == "success", answer
        return answer["data"]

    def alerts(self) -> list[dict[str, Any]]:
        """``GET /api/v1/alerts``: the alerts pending or firing now."""
        return list(self.api("/api/v1/alerts")["alerts"])

    def targets(self) -> list[dict[str, Any]]:
        return list(self.api("/api/v1/targets")["activeTargets"])
