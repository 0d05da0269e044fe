"""The Prometheus metrics view (``metrics/``, URL name ``django_slack_rules:metrics``).

It answers only when ``SLACK_RULES["METRICS"]["ENABLED"]`` is true (404 otherwise), and
then only to a request with the bearer token (from ``TOKEN_FILE``, else the environment
variable ``SLACK_RULES_METRICS_TOKEN``) or from an address in ``ALLOW``; anything else gets
403 and no metric. The token is read at each request (so it can be rotated without a
restart), compared in constant time and never logged. Behind a reverse proxy every request
comes from the proxy's address: use the token there, not ``ALLOW``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
from collections.abc import Iterable
from typing import Callable, TypeVar

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.http.response import HttpResponseBase
from django.views.generic.base import View
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from ..conf import slack_rules_settings
from ..services.metrics import SlackRulesCollector

logger = logging.getLogger(__name__)

_View = TypeVar("_View", bound=Callable[..., HttpResponseBase])


class MetricsView(View):
    http_method_names = ["get", "head"]

    def get(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if not slack_rules_settings.METRICS_ENABLED:
            raise Http404("The metrics are off.")
        if not scrape_allowed(request):
            return HttpResponseForbidden(
                "A bearer token or an allowed address is needed.\n", content_type="text/plain"
            )
        registry = CollectorRegistry(auto_describe=False)
        registry.register(SlackRulesCollector())
        encoder, content_type = choose_encoder(request.META.get("HTTP_ACCEPT", ""))
        response = HttpResponse(encoder(registry), content_type=content_type)
        response["Cache-Control"] = "no-store"
        return response


def scrape_allowed(request: HttpRequest) -> bool:
    """A matching bearer token, or an address in ``ALLOW``."""
    scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() == "bearer" and given.strip():
        try:
            token = slack_rules_settings.metrics_token()
        except OSError as exc:
            # The path only, never what the file holds.
            logger.error(
                'The metrics token file SLACK_RULES["METRICS"]["TOKEN_FILE"] = %r cannot be '
                "read (%s): every scrape with a token is refused. Make it readable by the "
                "web server's user.",
                slack_rules_settings.METRICS["TOKEN_FILE"],
                type(exc).__name__,
            )
            token = ""
        if token and same_secret(given.strip(), token):
            return True
    return address_allowed(
        request.META.get("REMOTE_ADDR", ""), slack_rules_settings.METRICS["ALLOW"]
    )


def same_secret(given: str, expected: str) -> bool:
    """Whether ``given`` is ``expected``, in a time that says nothing of either: their
    digests are compared with ``hmac.compare_digest`` (equal lengths, constant time)."""
    return hmac.compare_digest(
        hashlib.sha256(given.encode()).digest(), hashlib.sha256(expected.encode()).digest()
    )


def address_allowed(address: str, allowed: Iterable[object]) -> bool:
    """Whether ``address`` is one of the addresses or networks ``allowed``."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    for entry in allowed or ():
        try:
            if ip in ipaddress.ip_network(str(entry), strict=False):
                return True
        except (TypeError, ValueError):
            continue  # reported by the system check E013
    return False


def _login_not_required(view: _View) -> _View:
    """Let the view through Django's LoginRequiredMiddleware (5.1+): it checks a token."""
    try:
        from django.contrib.auth.decorators import login_not_required
    except ImportError:  # Django < 5.1 has no such middleware
        return view
    return login_not_required(view)


metrics_view = _login_not_required(MetricsView.as_view())
