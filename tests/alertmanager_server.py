"""A real Alertmanager (Debian's ``prometheus-alertmanager``) on 127.0.0.1, for the
end-to-end test fed by the upstream itself instead of replayed JSON.

One process, no cluster (no gossip port), its state in a temporary directory, and a
generated configuration whose only receiver is a webhook::

    config = webhook_config(url, group_by=["alertname"], group_wait="200ms", ...)
    with AlertmanagerServer(config=config, state_dir=tmp_path) as alertmanager:
        alertmanager.post_alerts([{"labels": {...}, "annotations": {...}}])
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tests.processes import Service, answers, free_port, stop_process, wait_until

START_TIMEOUT = 30.0
BINARIES = ("prometheus-alertmanager", "alertmanager")  # Debian's name, then upstream's


def alertmanager_path() -> str:
    """The Alertmanager binary on PATH; an error naming the package when there is none."""
    for name in BINARIES:
        found = shutil.which(name)
        if found:
            return found
    raise AssertionError(
        "Alertmanager is not installed; on Debian: apt-get install prometheus-alertmanager "
        "(it ships prometheus-alertmanager and amtool; .ci/run installs it)."
    )


def webhook_config(
    url: str,
    *,
    group_by: list[str],
    group_wait: str,
    group_interval: str,
    repeat_interval: str,
    resolve_timeout: str,
) -> dict[str, Any]:
    """An Alertmanager configuration that sends every alert to one webhook receiver, the
    resolved ones too."""
    return {
        "global": {"resolve_timeout": resolve_timeout},
        "route": {
            "receiver": "example-webhook",
            "group_by": group_by,
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": repeat_interval,
        },
        "receivers": [
            {
                "name": "example-webhook",
                "webhook_configs": [{"url": url, "send_resolved": True}],
            }
        ],
    }


class AlertmanagerServer(Service):
    """An ``alertmanager`` process on a free port of 127.0.0.1; stopped on exit."""

    def __init__(self, *, config: dict[str, Any], state_dir: Path) -> None:
        self.config = config
        self.state_dir = state_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_file = state_dir / "alertmanager.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> AlertmanagerServer:
        config_file = self.state_dir / "alertmanager.yml"
        # JSON is YAML: Alertmanager reads it as is, and no YAML library is needed here.
        config_file.write_text(json.dumps(self.config, indent=2))
        command = [
            alertmanager_path(),
            f"--config.file={config_file}",
            f"--storage.path={self.state_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            f"--web.external-url={self.url}",
            "--cluster.listen-address=",  # no HA cluster: no gossip port, no peers to wait for
            "--log.level=debug",  # every notification and its outcome, for a failure's report
        ]
        with self.log_file.open("wb") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        wait_until(self._ready, START_TIMEOUT, "Alertmanager to be ready")
        return self

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"Alertmanager exited:\n{self.log()}")
        return answers(self.url + "/-/ready")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    # --- Alertmanager's API v2 ------------------------------------------------------

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                answer = response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                raise AssertionError(
                    f"Alertmanager answered {method} {path} with {exc.code}: {exc.read()!r}"
                ) from None
        return json.loads(answer) if answer.strip() else None

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """``POST /api/v2/alerts``: what Prometheus does on every evaluation."""
        self._call("POST", "/api/v2/alerts", alerts)

    def add_silence(
        self, matchers: dict[str, str], *, starts_at: str, ends_at: str, comment: str
    ) -> str:
        """``POST /api/v2/silences`` with equality matchers; the new silence's id."""
        silence = {
            "matchers": [
                {"name": name, "value": value, "isRegex": False, "isEqual": True}
                for name, value in matchers.items()
            ],
            "startsAt": starts_at,
            "endsAt": ends_at,
            "createdBy": "tests/test_alertmanager_e2e.py",
            "comment": comment,
        }
        answer = self._call("POST", "/api/v2/silences", silence)
        return str(answer["silenceID"])

    def alerts(self, **filters: str) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts``: the alerts Alertmanager holds (not the resolved ones)."""
        query = urllib.parse.urlencode(filters)
        return list(self._call("GET", "/api/v2/alerts" + (f"?{query}" if query else "")))

    def metric(self, name: str, **labels: str) -> float:
        """The value of one sample of ``GET /metrics``, e.g.
        ``metric("alertmanager_notifications_total", integration="webhook")``."""
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as response:
            text = response.read().decode()
        wanted = name + (
            "{" + ",".join(f'{key}="{value}"' for key, value in labels.items()) + "}"
            if labels
            else ""
        )
        for line in text.splitlines():
            sample, _, value = line.rpartition(" ")
            if sample == wanted:
                return float(value)
        raise AssertionError(f"Alertmanager has no metric {wanted}")
