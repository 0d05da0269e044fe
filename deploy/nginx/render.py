#!/usr/bin/env python3
"""Render sentryhub_slack_proxy.conf for one proxy server.

Fills in the template's @NAME@ placeholders, repeats the ``allow`` line once per
caller, and keeps the ``location /slack-proxy/`` of the chosen mode. Standard
library only (Python 3.9+); nothing it writes is secret.

Example, on the proxy server::

    python3 render.py --mode webhook --listen 10.0.0.5:80 \\
        --allow 10.0.0.11 --allow 10.0.0.12 \\
        --secrets /etc/nginx/slack-proxy/secrets.conf \\
        --output /etc/nginx/conf.d/sentryhub_slack_proxy.conf
    nginx -t && systemctl reload nginx

Run ``python3 render.py --help`` for every option. See docs/gateway.md.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

TEMPLATE = Path(__file__).resolve().with_name("sentryhub_slack_proxy.conf")
MODES = ("webhook", "bot")
#: Where each mode connects by default (the TLS name and Host header are fixed in the template).
SLACK_ADDRESSES = {"webhook": "hooks.slack.com:443", "bot": "slack.com:443"}
DEFAULT_CA_FILE = "/etc/ssl/certs/ca-certificates.crt"
DEFAULT_SECRETS = "/etc/nginx/slack-proxy/secrets.conf"
DEFAULT_LOG_DIR = "/var/log/nginx"
#: The per-channel backstop: Slack's pace (1 message per second per channel), with a burst
#: above the package's own (SLACK_RULES["CHANNEL_BURST"], 3 by default), so a channel the
#: package paces is never refused. See docs/gateway.md, "Rate limit".
DEFAULT_RATE = "1r/s"
DEFAULT_BURST = 5

# A value goes into nginx's configuration verbatim: no whitespace, quotes, comments,
# variables or statement/block delimiters.
_PLAIN = re.compile(r"^[^\s;{}'\"#$\\]+$")
_RATE = re.compile(r"^[1-9][0-9]*r/[sm]$")
_TIME = re.compile(r"^[1-9][0-9]*(ms|s|m)?$")
_PLACEHOLDER = re.compile(r"@[A-Z_]+@")
_MODE_BLOCK = re.compile(r"^\s*#(>>>|<<<) (\w+) mode\s*$")


class RenderError(ValueError):
    """A value that cannot go into the configuration, with the reason."""


def _plain(name: str, value: str) -> str:
    if not _PLAIN.match(value):
        raise RenderError(f"{name} {value!r}: spaces, quotes, ; {{ }} # $ and \\ are not allowed")
    return value


def _listen(value: str) -> str:
    """``ADDRESS:PORT``, ``[IPV6]:PORT`` or ``PORT``."""
    host, _, port = value.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise RenderError(f"listen {value!r}: expected ADDRESS:PORT, e.g. 10.0.0.5:80")
    if host:
        try:
            ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            raise RenderError(
                f"listen {value!r}: give the internal IP address, not a host name"
            ) from None
    return value


def _caller(value: str) -> str:
    """An IP address or network for ``allow``."""
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise RenderError(
            f"allow {value!r}: expected an IP address or network, e.g. 10.0.0.11 or 10.0.1.0/24"
        ) from None
    return value


def _address(name: str, value: str) -> str:
    """``HOST:PORT`` of Slack (or of a stand-in for it)."""
    host, _, port = _plain(name, value).rpartition(":")
    if not host or not port.isdigit():
        raise RenderError(f"{name} {value!r}: expected HOST:PORT, e.g. hooks.slack.com:443")
    return value


def _matching(name: str, value: str, pattern: re.Pattern[str], example: str) -> str:
    if not pattern.match(value):
        raise RenderError(f"{name} {value!r}: expected something like {example}")
    return value


def system_resolver(resolv_conf: str = "/etc/resolv.conf") -> str | None:
    """The first nameserver of ``resolv_conf``, or None."""
    try:
        lines = Path(resolv_conf).read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            address = fields[1].split("%")[0]
            return f"[{address}]" if ":" in address else address
    return None


def render(
    *,
    mode: str,
    listen: str,
    callers: Sequence[str],
    secrets_file: str = DEFAULT_SECRETS,
    ca_file: str = DEFAULT_CA_FILE,
    resolver: str | None = None,
    log_dir: str = DEFAULT_LOG_DIR,
    rate: str = DEFAULT_RATE,
    burst: int = DEFAULT_BURST,
    connect_timeout: str = "3s",
    read_timeout: str = "8s",
    slack_address: str | None = None,
    template: str | None = None,
) -> str:
    """The configuration for one proxy server, as text. Raises :class:`RenderError`."""
    if mode not in MODES:
        raise RenderError(f"mode {mode!r}: expected one of {', '.join(MODES)}")
    if not callers:
        raise RenderError("give at least one caller (--allow), the application hosts")
    resolver = resolver or system_resolver()
    if not resolver:
        raise RenderError("no nameserver in /etc/resolv.conf: give --resolver")
    if isinstance(burst, bool) or not isinstance(burst, int) or burst < 0:
        raise RenderError(f"burst {burst!r}: expected a whole number, 0 or more")
    values = {
        "LISTEN": _listen(listen),
        "SECRETS_FILE": _plain("secrets", secrets_file),
        "CA_FILE": _plain("ca-file", ca_file),
        "RESOLVER": _plain("resolver", resolver),
        "LOG_DIR": _plain("log-dir", log_dir.rstrip("/") or "/"),
        "RATE": _matching("rate", rate, _RATE, "1r/s"),
        "BURST": str(burst),
        "CONNECT_TIMEOUT": _matching("connect-timeout", connect_timeout, _TIME, "3s"),
        "READ_TIMEOUT": _matching("read-timeout", read_timeout, _TIME, "8s"),
        "SLACK_ADDRESS": _address("slack-address", slack_address or SLACK_ADDRESSES[mode]),
    }
    text = TEMPLATE.read_text() if template is None else template
    if burst == 0:  # nginx refuses "burst=0"; no burst is the same
        text = text.replace(" burst=@BURST@ nodelay", "")
    lines = _keep_mode(text.splitlines(), mode)
    lines = _repeat(lines, "@CALLER@", [_caller(c) for c in callers])
    rendered = _substitute("\n".join(lines) + "\n", values)
    left = sorted(set(_PLACEHOLDER.findall(rendered)))
    if left:
        raise RenderError(f"the template has placeholders render.py does not know: {left}")
    return rendered


def _keep_mode(lines: Iterable[str], mode: str) -> list[str]:
    """Drop the other modes' blocks and the block markers."""
    kept: list[str] = []
    inside: str | None = None
    for line in lines:
        marker = _MODE_BLOCK.match(line)
        if marker:
            inside = marker.group(2) if marker.group(1) == ">>>" else None
            continue
        if inside is None or inside == mode:
            kept.append(line)
    return kept


def _repeat(lines: Iterable[str], placeholder: str, values: Sequence[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        if placeholder in line:
            out.extend(line.replace(placeholder, value) for value in values)
        else:
            out.append(line)
    return out


def _substitute(text: str, values: Mapping[str, str]) -> str:
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Render the django-slack-rules nginx gateway for one proxy server.",
        epilog="Then: nginx -t && systemctl reload nginx. See docs/gateway.md.",
    )
    parser.add_argument("--mode", required=True, choices=MODES, help="incoming webhooks or bot")
    parser.add_argument(
        "--listen", required=True, help="internal ADDRESS:PORT to listen on, e.g. 10.0.0.5:80"
    )
    parser.add_argument(
        "--allow",
        action="append",
        required=True,
        metavar="ADDRESS",
        help="an application host (IP or network) allowed to send; repeat for each",
    )
    parser.add_argument("--secrets", default=DEFAULT_SECRETS, help="the secrets include")
    parser.add_argument("--ca-file", default=DEFAULT_CA_FILE, help="CA bundle to verify Slack")
    parser.add_argument(
        "--resolver", help="DNS server for Slack's host name (default: from /etc/resolv.conf)"
    )
    parser.add_argument("--log-dir", default=DEFAULT_LOG_DIR, help="directory of the two logs")
    parser.add_argument(
        "--rate",
        default=DEFAULT_RATE,
        help=f"sustained rate per channel (default: {DEFAULT_RATE}, Slack's pace)",
    )
    parser.add_argument(
        "--burst",
        type=int,
        default=DEFAULT_BURST,
        help=f"messages above the rate let through at once, per channel (default: {DEFAULT_BURST})",
    )
    parser.add_argument("--connect-timeout", default="3s", help="to Slack (default: 3s)")
    parser.add_argument(
        "--read-timeout",
        default="8s",
        help="for Slack's answer (default: 8s; keep it below SLACK_RULES['READ_TIMEOUT'])",
    )
    parser.add_argument(
        "--slack-address",
        help="HOST:PORT to connect to instead of hooks.slack.com:443 / slack.com:443 "
        "(the TLS name and Host header stay Slack's); for tests",
    )
    parser.add_argument("--output", "-o", help="write here instead of standard output")
    args = parser.parse_args(argv)
    try:
        text = render(
            mode=args.mode,
            listen=args.listen,
            callers=args.allow,
            secrets_file=args.secrets,
            ca_file=args.ca_file,
            resolver=args.resolver,
            log_dir=args.log_dir,
            rate=args.rate,
            burst=args.burst,
            connect_timeout=args.connect_timeout,
            read_timeout=args.read_timeout,
            slack_address=args.slack_address,
        )
    except RenderError as exc:
        parser.error(str(exc))
    if args.output:
        write_output(parser, args.output, text)
    else:
        sys.stdout.write(text)
    return 0


def write_output(parser: argparse.ArgumentParser, output: str, text: str) -> None:
    """Write ``text`` to ``output`` at once (a temporary file, then a rename), or exit
    through ``parser`` naming what is wrong."""
    path = Path(output)
    if not path.parent.is_dir():
        parser.error(
            f"--output {output}: the directory {path.parent} does not exist; create "
            f"it (mkdir -p {path.parent}) or name a file in nginx's conf.d"
        )
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        parser.error(
            f"--output {output}: cannot write it ({exc.strerror}); run {parser.prog} as "
            "a user who may write there (root, for /etc/nginx/conf.d)"
        )


if __name__ == "__main__":
    sys.exit(main())
