"""The host, in a process of its own: it processes alerts as SentryHub does, one
transaction each, and prints how long each commit took (JSON). The fault tests run it with
the broker down. ``python -m tests.host_process COUNT PREFIX``; the environment names the
test database (``DSR_WORKER_DB``), the broker and the queue, as for the worker."""

from __future__ import annotations

import json
import sys
import time


def main(count: int, prefix: str) -> None:
    import django

    django.setup()
    from django.db import transaction
    from django.utils import timezone

    from tests.alerts.models import AlertGroup, AlertInstance
    from tests.alerts.signals import alert_processed

    timings = []
    for n in range(count):
        started = time.monotonic()
        with transaction.atomic():
            alert = AlertGroup.objects.create(
                fingerprint=f"{prefix}-{n}",
                name="HighCPU",
                labels={
                    "alertname": "HighCPU",
                    "instance": f"{prefix}-{n}",
                    "channel": f"{prefix}-{n}",
                },
            )
            instance = AlertInstance.objects.create(
                alert_group=alert, status="firing", started_at=timezone.now()
            )
            alert_processed.send(
                sender=AlertGroup, alert_group=alert, instance=instance, status="firing"
            )
        timings.append(time.monotonic() - started)
    print(json.dumps({"commits": timings}))


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
