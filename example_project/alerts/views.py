"""The Alertmanager webhook receiver (SentryHub: ``alerts/api/v1/webhook/``)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .alertmanager import PayloadError, parse_body
from .services.alerts_processor import store_alerts


# A machine endpoint: Alertmanager sends no CSRF token. In production it sits behind
# network rules or authentication (Alertmanager's http_config: basic auth or a bearer token).
@csrf_exempt
@require_POST
def alertmanager_webhook(request: HttpRequest) -> JsonResponse:
    """Store the alerts of one Alertmanager notification; 400 says what is wrong."""
    try:
        alerts = parse_body(request.body)
    except PayloadError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    stored = store_alerts(alerts)
    return JsonResponse(
        {
            "received": len(stored),
            "alerts": [
                {
                    "fingerprint": item.group.fingerprint,
                    "name": item.group.name,
                    "status": item.instance.status,
                    "silenced": item.silence is not None,
                    "silence": item.silence.name if item.silence else None,
                }
                for item in stored
            ],
        }
    )
