"""A real nginx running the shipped gateway config (deploy/nginx/), for tests.

nginx runs unprivileged in a temporary directory (prefix, pid, logs and temp
paths there, ``daemon off``), listens on 127.0.0.1 on a free high port, and
forwards to a fake Slack that serves HTTPS with a certificate from a test CA::

    from tests.fake_slack import FakeSlack
    from tests.nginx_gateway import NginxGateway, SlackCertificates, webhook_secrets

    certs = SlackCertificates()  # a test CA, an intermediate, a leaf for Slack's names
    with FakeSlack(ssl_context=certs.server_context()) as slack, NginxGateway(
        mode="webhook",  # or "bot" (then FakeSlack(api_mode=True), bot_secrets(token))
        slack=slack,
        ca_file=certs.ca_file,
        secrets=webhook_secrets({"#alerts": "/services/T1/B1/secret"}),
    ) as gateway:
        settings.SLACK_INTERNAL_ENDPOINT = gateway.endpoint
        ...
        assert not gateway.logs_containing("secret")

The API:

- :class:`SlackCertificates`: ``server_context()`` for ``FakeSlack(ssl_context=...)``
  (a certificate for hooks.slack.com and slack.com), ``ca_file`` (the CA nginx trusts).
- :func:`webhook_secrets` / :func:`bot_secrets`: the secrets include, as its
  ``.example`` file shows it.
- :func:`render`: deploy/nginx/render.py's ``render()``.
- :class:`NginxGateway`: ``start()``/``stop()`` (or ``with``), ``endpoint`` (what
  SLACK_INTERNAL_ENDPOINT is set to), ``url``, ``port``, ``access_log``,
  ``error_log``, ``log_files()``, ``logs_containing(text)``, ``access_log_lines()``.
- :func:`nginx_test`: ``nginx -t`` on a rendered config.

Running as root (CI), the workers drop to ``nobody``; the master opens the logs
and reads the root-only secrets file, as on a real proxy server.
"""

from __future__ import annotations

import contextlib
import grp
import importlib.util
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.fake_slack import FakeSlack
from tests.processes import Service, free_port, stop_process, wait_until

__all__ = [
    "NGINX",
    "RENDER_SCRIPT",
    "NginxGateway",
    "SlackCertificates",
    "bot_secrets",
    "nginx_test",
    "render",
    "webhook_secrets",
]

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy" / "nginx"
RENDER_SCRIPT = DEPLOY / "render.py"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
#: Slack's host names, as nginx checks them (proxy_ssl_name) and sends them (Host).
SLACK_NAMES = ("hooks.slack.com", "slack.com")
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0


def _load_render_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("slack_proxy_render", RENDER_SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_render_module = _load_render_module()
render = _render_module.render
RenderError: type[ValueError] = _render_module.RenderError


class SlackCertificates:
    """A test CA with an intermediate CA that issued Slack's certificate.

    The chain (leaf → intermediate → root) is deeper than nginx's default verify
    depth, as Slack's real one is.
    """

    def __init__(self, names: Sequence[str] = SLACK_NAMES) -> None:
        import trustme  # a test dependency; imported here so collecting tests never needs it

        self.ca = trustme.CA(organization_name="django-slack-rules test CA")
        self.intermediate = self.ca.create_child_ca()
        self.leaf = self.intermediate.issue_cert(*names)
        self._dir = tempfile.TemporaryDirectory(prefix="dsr-slack-ca-")
        self.ca_file = Path(self._dir.name) / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        os.chmod(self._dir.name, 0o755)

    def server_context(self) -> ssl.SSLContext:
        """For ``FakeSlack(ssl_context=...)``: serves the leaf and the intermediate."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.leaf.configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts the test CA (e.g. to talk to the fake directly)."""
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    def cleanup(self) -> None:
        """Remove the CA file. Also done by leaving a ``with SlackCertificates() as certs:``."""
        self._dir.cleanup()

    def __enter__(self) -> SlackCertificates:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()


def webhook_secrets(routes: Mapping[str, str], default: str | None = None) -> str:
    """The webhook-mode secrets include: channel → webhook path; ``default`` for the rest
    (None: an unknown channel is refused)."""
    lines = ["map $http_x_slack_channel $slack_webhook_path {"]
    lines.append(f'    default "{default or ""}";')
    lines.extend(f'    "{channel}" "{path}";' for channel, path in routes.items())
    lines.append("}")
    return "\n".join(lines) + "\n"


def bot_secrets(token: str) -> str:
    """The bot-mode secrets include."""
    return f'map "" $slack_bot_token {{\n    default "{token}";\n}}\n'


def _main_config(workdir: Path, include: Path) -> str:
    """nginx.conf around the rendered gateway config: every path in ``workdir``."""
    user = ""
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        user = f"user nobody {grp.getgrgid(nobody.pw_gid).gr_name};\n"
    temp = workdir / "temp"
    return (
        f"{user}worker_processes 1;\n"
        f"error_log {workdir / 'logs' / 'error.log'} notice;\n"
        "events { worker_connections 128; }\n"
        "http {\n"
        f"    client_body_temp_path {temp / 'body'};\n"
        f"    proxy_temp_path {temp / 'proxy'};\n"
        f"    fastcgi_temp_path {temp / 'fastcgi'};\n"
        f"    uwsgi_temp_path {temp / 'uwsgi'};\n"
        f"    scgi_temp_path {temp / 'scgi'};\n"
        f"    access_log {workdir / 'logs' / 'access.log'};\n"
        f"    include {include};\n"
        "}\n"
    )


def nginx_test(config: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    """``nginx -t`` on a rendered gateway config (wrapped in an nginx.conf in ``workdir``)."""
    for name in ("logs", "temp"):
        (workdir / name).mkdir(parents=True, exist_ok=True)
    include = workdir / "slack_proxy.conf"
    include.write_text(config)
    main = workdir / "nginx.conf"
    main.write_text(_main_config(workdir, include))
    return subprocess.run(
        [NGINX, "-t", "-p", f"{workdir}/", "-c", str(main), "-g", f"pid {workdir}/nginx.pid;"],
        capture_output=True,
        text=True,
        timeout=30,
    )


class NginxGateway(Service):
    """nginx with the shipped config rendered for ``mode``, in front of ``slack``.

    ``slack``: the FakeSlack (HTTPS) nginx forwards to, or ``slack_address``
    ("127.0.0.1:PORT"). ``secrets``: the secrets include's text (see
    :func:`webhook_secrets`, :func:`bot_secrets`). ``callers``: the allow-list.
    ``render_options``: more keyword arguments for :func:`render` (``rate``,
    ``burst``, ``read_timeout``...). ``workdir``: where nginx keeps its files
    (default: a new temporary directory, removed by :meth:`stop`).
    """

    def __init__(
        self,
        *,
        mode: str,
        ca_file: Path | str,
        secrets: str,
        slack: FakeSlack | None = None,
        slack_address: str | None = None,
        callers: Sequence[str] = ("127.0.0.1",),
        workdir: Path | None = None,
        **render_options: Any,
    ) -> None:
        if (slack is None) == (slack_address is None):
            raise TypeError("give slack or slack_address")
        self.mode = mode
        self.slack_address = slack_address or f"{slack.host}:{slack.port}"  # type: ignore[union-attr]
        self.ca_file = Path(ca_file)
        self.secrets = secrets
        self.callers = tuple(callers)
        self.render_options = render_options
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="dsr-nginx-"))
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.config = ""

    # -- addresses and files -------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def endpoint(self) -> str:
        """What SLACK_INTERNAL_ENDPOINT is set to: ``http://127.0.0.1:PORT/slack-proxy/``."""
        return f"{self.url}/slack-proxy/"

    @property
    def logs(self) -> Path:
        return self.workdir / "logs"

    @property
    def access_log(self) -> Path:
        return self.logs / "slack-proxy.access.log"

    @property
    def error_log(self) -> Path:
        return self.logs / "slack-proxy.error.log"

    def log_files(self) -> list[Path]:
        """Every file nginx wrote: its logs and its captured output."""
        return sorted(p for p in self.logs.rglob("*") if p.is_file())

    def logs_containing(self, text: str) -> list[Path]:
        """The log files that contain ``text`` anywhere."""
        needle = text.encode()
        return [p for p in self.log_files() if needle in p.read_bytes()]

    def access_log_lines(self) -> list[str]:
        return self.access_log.read_text().splitlines() if self.access_log.exists() else []

    # -- lifecycle -----------------------------------------------------------

    def render(self) -> str:
        return render(
            mode=self.mode,
            listen=f"127.0.0.1:{self.port}",
            callers=self.callers,
            secrets_file=str(self.workdir / "secrets.conf"),
            ca_file=str(self.ca_file),
            resolver="127.0.0.1",
            log_dir=str(self.logs),
            slack_address=self.slack_address,
            **self.render_options,
        )

    def start(self) -> NginxGateway:
        """Render, check (``nginx -t``) and start nginx; returns once it accepts connections."""
        if self.process is not None:
            raise RuntimeError("this NginxGateway is already started")
        if self._own_workdir:
            os.chmod(self.workdir, 0o755)  # the workers (nobody) may need the temp paths
        self.logs.mkdir(parents=True, exist_ok=True)
        secrets_file = self.workdir / "secrets.conf"
        secrets_file.write_text(self.secrets, encoding="utf-8")
        os.chmod(secrets_file, 0o600)
        for _ in range(3):  # a free port can be taken between choosing and binding it
            self.port = free_port()
            self.config = self.render()
            checked = nginx_test(self.config, self.workdir)
            if checked.returncode != 0:
                raise RuntimeError(f"nginx -t failed:\n{checked.stderr}")
            if self._run():
                return self
        raise RuntimeError(f"nginx did not start:\n{self._output()}")

    def _run(self) -> bool:
        output = self.logs / "nginx.out"
        with output.open("ab") as out:
            process = subprocess.Popen(
                [
                    NGINX,
                    "-p",
                    f"{self.workdir}/",
                    "-c",
                    str(self.workdir / "nginx.conf"),
                    "-g",
                    f"daemon off; master_process on; pid {self.workdir}/nginx.pid;",
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.process = process
        wait_until(
            lambda: process.poll() is not None or self._accepts(),
            _START_TIMEOUT,
            "nginx to listen",
        )
        if process.poll() is None:
            return True
        self.process = None
        if b"Address already in use" in self._output().encode():
            return False
        raise RuntimeError(f"nginx exited with {process.returncode}:\n{self._output()}")

    def _accepts(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def _output(self) -> str:
        parts = []
        for name in ("nginx.out", "error.log"):
            path = self.logs / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)

    def stop(self) -> None:
        """Stop nginx (bounded; safe to repeat) and remove its own temporary directory."""
        process, self.process = self.process, None
        if process is not None:
            stop_process(process, _STOP_TIMEOUT)
        if self._own_workdir:
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(self.workdir)
