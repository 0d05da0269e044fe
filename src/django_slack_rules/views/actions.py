"""The Request URL of the Slack app: where Slack posts a click on a message's button.

Not a page: no login (Slack's signature is the proof), no CSRF token (Slack cannot send
one). The request is verified and the click recorded (:mod:`..services.actions.intake`), Slack
gets its answer, and only then is the task queued, from the response's ``close()``
(which the WSGI or ASGI server calls once the answer is sent): a slow or stopped broker
never delays the answer past Slack's three seconds. Reach it through the nginx location
in ``deploy/nginx/`` that forwards only this path (docs/slack.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from ..action_tasks import perform_slack_action
from ..services.actions import intake
from ..tasks import enqueue

logger = logging.getLogger(__name__)

_View = TypeVar("_View", bound=Callable[..., HttpResponseBase])


def _login_not_required() -> Callable[[_View], _View]:
    """Django 5.1+'s ``login_not_required`` (so ``LoginRequiredMiddleware`` lets Slack in);
    before 5.1 there is no such middleware, and nothing to do."""
    try:
        from django.contrib.auth.decorators import login_not_required
    except ImportError:
        return lambda view: view
    return login_not_required


def queue_click(action_id: int) -> None:
    """Queue the task of a click just answered, trying the broker once (``tasks.enqueue``).
    Never raises: when the broker cannot take it, the click stays pending, and the periodic
    recovery (``recover_actions``) queues it once the broker is back."""
    try:
        enqueue(perform_slack_action, action_id)
    except Exception as exc:
        logger.warning(
            "Could not queue action %s from Slack (%s: %s); it is pending, and the recovery "
            "task queues it once the broker is reachable",
            action_id,
            type(exc).__name__,
            exc,
        )


class AnswerThenQueue(HttpResponse):
    """A response that runs ``then`` once it has been sent (when the server closes it)."""

    def __init__(
        self, *args: object, then: Callable[[], object] | None = None, **kwargs: object
    ) -> None:
        super().__init__(*args, **kwargs)
        self._then = then

    def close(self) -> None:
        try:
            super().close()
        finally:
            then, self._then = self._then, None
            if then is not None:
                then()


@method_decorator([csrf_exempt, _login_not_required()], name="dispatch")
class SlackActionsView(View):
    """POST from Slack: verify, record, answer; the task does the rest."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        answer = intake.take(
            request.body,
            request.headers.get("X-Slack-Request-Timestamp"),
            request.headers.get("X-Slack-Signature"),
        )
        pk = answer.action_id
        return AnswerThenQueue(
            answer.text,
            status=answer.status,
            content_type="text/plain; charset=utf-8",
            then=None if pk is None else lambda: queue_click(pk),
        )
