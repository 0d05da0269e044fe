#!/usr/bin/env python3
"""Render sentryhub_slack_actions.conf: the public location Slack posts button clicks to.

Fills in the template's @NAME@ placeholders and keeps its TLS lines (with a certificate)
or its plain listen (behind a proxy that terminates TLS). Standard library only (Python
3.9+); nothing it writes is secret. The validation helpers are render.py's, beside it.

Example, on the server that faces the internet::

    python3 render_actions.py --listen 203.0.113.5:443 --server-name alerts.example.com \\
        --certificate /etc/ssl/alerts.example.com.pem \\
        --certificate-key /etc/ssl/private/alerts.example.com.key \\
        --upstream http://10.0.0.11:8000 --path /slack/actions/ \\
        --output /etc/nginx/conf.d/sentryhub_slack_actions.conf
    nginx -t && systemctl reload nginx

Then the Slack app's Request URL is ``https://alerts.example.com/slack/actions/``.
Run ``python3 render_actions.py --help`` for every option. See docs/slack.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "sentryhub_slack_actions.conf"


def _render_module() -> ModuleType:
    """render.py beside this file (its validators and its writer)."""
    spec = importlib.util.spec_from_file_location("slack_proxy_render", HERE / "render.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_base = _render_module()
RenderError: type[ValueError] = _base.RenderError
DEFAULT_LOG_DIR: str = _base.DEFAULT_LOG_DIR

_PATH = re.compile(r"^/(?:[A-Za-z0-9._~-]+/)*$")
_UPSTREAM = re.compile(r"^https?://[^\s;{}'\"#$\\/]+$")
_SIZE = re.compile(r"^[1-9][0-9]*[km]?$")
_SERVER_NAME = re.compile(r"^[A-Za-z0-9.*_-]+$")


def render(
    *,
    listen: str,
    server_name: str,
    upstream: str,
    path: str = "/slack/actions/",
    certificate: str | None = None,
    certificate_key: str | None = None,
    log_dir: str = DEFAULT_LOG_DIR,
    rate: str = "5r/s",
    burst: int = 20,
    body_limit: str = "1m",
    template: str | None = None,
) -> str:
    """The configuration, as text. Raises :class:`RenderError`."""
    if (certificate is None) != (certificate_key is None):
        raise RenderError("give both --certificate and --certificate-key, or neither")
    if not _PATH.match(path):
        raise RenderError(
            f"path {path!r}: expected the view's path, starting and ending with /, e.g. "
            "/slack/actions/"
        )
    if not _UPSTREAM.match(upstream):
        raise RenderError(
            f"upstream {upstream!r}: expected the Django site as SCHEME://HOST:PORT, e.g. "
            "http://10.0.0.11:8000 (no path: the view's path is --path)"
        )
    if not _SERVER_NAME.match(server_name):
        raise RenderError(
            f"server-name {server_name!r}: expected a host name, e.g. alerts.example.com"
        )
    if isinstance(burst, bool) or not isinstance(burst, int) or burst < 0:
        raise RenderError(f"burst {burst!r}: expected a whole number, 0 or more")
    values = {
        "LISTEN": _base._listen(listen),
        "SERVER_NAME": server_name,
        "UPSTREAM": upstream.rstrip("/"),
        "PATH": path,
        "LOG_DIR": _base._plain("log-dir", log_dir.rstrip("/") or "/"),
        "RATE": _base._matching("rate", rate, _base._RATE, "5r/s"),
        "BURST": str(burst),
        "BODY_LIMIT": _base._matching("body-limit", body_limit, _SIZE, "1m"),
    }
    if certificate is not None and certificate_key is not None:
        values["CERTIFICATE"] = _base._plain("certificate", certificate)
        values["CERTIFICATE_KEY"] = _base._plain("certificate-key", certificate_key)
    text = TEMPLATE.read_text() if template is None else template
    if burst == 0:  # nginx refuses "burst=0"; no burst is the same
        text = text.replace(" burst=@BURST@ nodelay", "")
    lines = _base._keep_mode(text.splitlines(), "tls" if certificate else "plain")
    rendered = _base._substitute("\n".join(lines) + "\n", values)
    left = sorted(set(_base._PLACEHOLDER.findall(rendered)))
    if left:
        raise RenderError(f"the template has placeholders render_actions.py does not know: {left}")
    return rendered


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Render the public location Slack posts django-slack-rules' button clicks to.",
        epilog="Then: nginx -t && systemctl reload nginx. See docs/slack.md.",
    )
    parser.add_argument(
        "--listen", required=True, help="ADDRESS:PORT to listen on, e.g. 203.0.113.5:443"
    )
    parser.add_argument(
        "--server-name", required=True, help="the public host name, e.g. alerts.example.com"
    )
    parser.add_argument(
        "--upstream", required=True, help="the Django site, e.g. http://10.0.0.11:8000"
    )
    parser.add_argument(
        "--path", default="/slack/actions/", help="the view's path (default: /slack/actions/)"
    )
    parser.add_argument("--certificate", help="TLS certificate (chain) file")
    parser.add_argument("--certificate-key", help="its private key")
    parser.add_argument("--log-dir", default=DEFAULT_LOG_DIR, help="directory of the two logs")
    parser.add_argument("--rate", default="5r/s", help="per client address (default: 5r/s)")
    parser.add_argument(
        "--burst", type=int, default=20, help="clicks above the rate let through (default: 20)"
    )
    parser.add_argument("--body-limit", default="1m", help="largest body taken (default: 1m)")
    parser.add_argument("--output", "-o", help="write here instead of standard output")
    args = parser.parse_args(argv)
    try:
        text = render(
            listen=args.listen,
            server_name=args.server_name,
            upstream=args.upstream,
            path=args.path,
            certificate=args.certificate,
            certificate_key=args.certificate_key,
            log_dir=args.log_dir,
            rate=args.rate,
            burst=args.burst,
            body_limit=args.body_limit,
        )
    except RenderError as exc:
        parser.error(str(exc))
    if args.output:
        _base.write_output(parser, args.output, text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
