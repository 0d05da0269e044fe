"""A real nginx running the shipped public location for button clicks, for tests.

``deploy/nginx/sentryhub_slack_actions.conf`` rendered by ``render_actions.py``, in front
of the test's live Django server, on 127.0.0.1 and a free port (plain HTTP: TLS would end
before it)::

    with ActionsGateway(upstream=live_server.url) as gateway:
        post(gateway.actions_url, body, headers)   # as Slack posts to the Request URL
"""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.nginx_gateway import DEPLOY, NginxGateway

__all__ = ["ActionsGateway", "render_actions"]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "slack_actions_render", DEPLOY / "render_actions.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_module = _load()
render_actions = _module.render
RenderError: type[ValueError] = _module.RenderError


class ActionsGateway(NginxGateway):
    """nginx with the actions location rendered for ``upstream`` (the live server's URL).

    ``render_options``: more keyword arguments for ``render_actions`` (``rate``, ``burst``,
    ``body_limit``...). Everything else is :class:`NginxGateway`'s: ``start``/``stop``,
    ``url``, ``logs_containing``...
    """

    def __init__(
        self,
        *,
        upstream: str,
        path: str = "/slack/actions/",
        workdir: Path | None = None,
        **render_options: Any,
    ) -> None:
        self.upstream = upstream
        self.path = path
        self.render_options = render_options
        self.secrets = ""  # this server holds no secret
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="dsr-nginx-actions-"))
        self.port = 0
        self.process = None
        self.config = ""

    @property
    def actions_url(self) -> str:
        """The Slack app's Request URL, as nginx serves it."""
        return f"{self.url}{self.path}"

    @property
    def access_log(self) -> Path:
        return self.logs / "slack-actions.access.log"

    @property
    def error_log(self) -> Path:
        return self.logs / "slack-actions.error.log"

    def render(self) -> str:
        return str(
            render_actions(
                listen=f"127.0.0.1:{self.port}",
                server_name="localhost",
                upstream=self.upstream,
                path=self.path,
                log_dir=str(self.logs),
                **self.render_options,
            )
        )
