"""An alert storm through a real Celery worker, to a fake Slack paced like Slack: the package
(its pacing and digests at their defaults) against a naive sender, SentryHub's task posting
each alert once. Exit 2 when the package lost or duplicated an alert."""

from __future__ import annotations

import argparse
import collections
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import host
import scenario
from host import Notification, notify
from worker import worker, worker_host

SLACK_RATE, SLACK_BURST = 1.0, 5
TARGET_SECONDS, TARGET_REQUESTS = 60.0, 70  # the second for one channel
ROWS = {
    "seconds": "time until every alert is accounted for, s",
    "requests": "requests Slack received",
    "most_to_one_channel": "  the most to one channel",
    "rate_limited": "  answered 429 (rate-limited)",
    "inside_retry_after": "requests inside a Retry-After window",
    "digests": "digests",
    "lost": "alerts lost (never shown in Slack)",
    "duplicates": "duplicates (accepted twice)",
}


def storm_alerts(prefix: str, count: int, channels: int, rng: random.Random) -> list[Any]:
    """``count`` firing alerts, round-robin over ``channels`` channels (their label)."""
    labels = host.random_labels(count, rng, team="storm")
    for i, each in enumerate(labels):
        each.update(instance=f"node-{i:05d}", channel=f"storm-{i % channels + 1}")
    return host.create_alerts(prefix, labels, rng)


def storm(alerts: Sequence[Any], run: Any, process: Callable, done: Callable) -> dict[str, Any]:
    """Slack paced afresh, ``process`` each alert, evenly over ``--seconds``, then wait until
    ``done`` (at most ``--timeout``): the time from the first alert, and what Slack saw."""
    args, slack = run.args, run.slack
    slack.reset()
    slack.limit_channels(SLACK_RATE, SLACK_BURST)
    pause, started = threading.Event(), time.perf_counter()
    for i, alert in enumerate(alerts):
        pause.wait(max(0.0, started + i * args.seconds / len(alerts) - time.perf_counter()))
        process(alert)
    deadline = time.monotonic() + args.timeout
    while not (finished := done()) and time.monotonic() <= deadline:
        pause.wait(0.1)
    limited = {id(r) for r in slack.rate_limited}
    texts = collections.Counter(
        r.json().get("text") for r in slack.requests if id(r) not in limited
    )
    channels = collections.Counter(r.json().get("channel") for r in slack.requests)
    return {
        "seconds": f"{time.perf_counter() - started:.1f}",
        "finished": finished,
        "requests": len(slack.requests),
        "most_to_one_channel": max(channels.values(), default=0),
        "rate_limited": len(limited),
        "inside_retry_after": len(slack.inside_retry_after),
        "digests": "-",
        "duplicates": sum(n - 1 for n in texts.values()),
        "texts": texts,
    }


def run_package(alerts: Sequence[Notification], run: Any) -> dict[str, Any]:
    """Done when every alert is sent alone or in a digest that was sent."""
    from django.db.models import Q

    from django_slack_rules.models import SlackDelivery

    ids = [str(a.alert.pk) for a in alerts]
    mine = SlackDelivery.objects.filter(alert_id__in=ids).exclude(alert_status="digest")
    done = mine.filter(Q(state="sent") | Q(state="digested", digest__state="sent"))
    figures = storm(alerts, run, notify, lambda: done.count() == len(alerts))
    texts, rows = figures["texts"], mine.values_list("state", "text", "digest_id", "digest__text")
    shown = [texts[text if state == "sent" else digest] for state, text, _, digest in rows]
    figures["lost"] = len(alerts) - sum(map(bool, shown))
    figures["digests"] = len({digest_id for _, _, digest_id, _ in rows if digest_id})
    figures["singles"] = sum(state == "sent" for state, *_ in rows)
    return figures


def run_naive(alerts: Sequence[Notification], run: Any, rule: Any) -> dict[str, Any]:
    """As SentryHub's receiver, the naive task is queued at the host's commit; done when it
    has posted every alert."""
    from django.db import transaction

    from tests.celery_app import app

    def process(item: Notification) -> None:
        kwargs = {"alert_group_id": item.alert.pk, "rule_id": rule.pk}
        with transaction.atomic():
            transaction.on_commit(lambda: queue(kwargs))

    def queue(kwargs: dict[str, int]) -> None:
        task_id = app.send_task("sentryhub_baseline.post_once", kwargs=kwargs).id
        run.keys.append(f"celery-task-meta-{task_id}")  # its result, deleted at the end

    figures = storm(alerts, run, process, lambda: len(run.slack.requests) >= len(alerts))
    figures["lost"] = len(alerts) - len(figures["texts"])
    return figures


def run(args: argparse.Namespace) -> int:
    missed, failed = 0, False
    with worker_host(args, "storm benchmark") as run:
        from django_slack_rules.conf import slack_rules_settings as dsr
        from django_slack_rules.models import SlackIntegrationRule
        from tests.legacy_integrations.models import SlackIntegrationRule as LegacyRule

        pace = f"CHANNEL_RATE {dsr.CHANNEL_RATE:g}/s, CHANNEL_BURST {dsr.CHANNEL_BURST}"
        print(
            f"package: {pace}, DIGEST_AFTER {dsr.DIGEST_AFTER}; Slack: {SLACK_RATE:g}/s, ", end=""
        )
        print(f"burst {SLACK_BURST} per channel, 429 + Retry-After beyond it\n")
        rng = random.Random(args.seed)
        rule = {"name": "storm", "match_criteria": {"team": "storm"}}
        SlackIntegrationRule.objects.create(**rule, message_template=host.TEMPLATE)
        rule["match_criteria"] = {"labels__team": "storm"}  # SentryHub's form
        template = host.SENTRYHUB_TEMPLATE.replace("RULE_NAME", "storm")
        naive_rule = LegacyRule.objects.create(**rule, message_template=template)
        with worker(run):
            for channels in args.channels:
                what = f"{args.alerts:,} firing alerts in {args.seconds:g} s to {channels} channel"
                scenario.progress(f"{what}(s): the package, then the naive task…")
                alerts = storm_alerts(f"p{channels}", args.alerts, channels, rng)
                package = run_package(alerts, run)
                alerts = storm_alerts(f"n{channels}", args.alerts, channels, rng)
                naive = run_naive(alerts, run, naive_rule)
                missed += report(f"{what}{'s' if channels > 1 else ''}", package, naive)
                failed |= package["lost"] or package["duplicates"] or not package["finished"]
    return 2 if failed else 1 if args.check and missed else 0


def report(what: str, package: dict[str, Any], naive: dict[str, Any]) -> int:
    """Print the storm's figures side by side, and the package's targets; how many missed."""
    print(what)
    scenario.compare(["package", "naive"], {t: [package[k], naive[k]] for k, t in ROWS.items()})
    print(
        f"(package: {package['singles']} sent alone, the rest in digests"
        f"{'' if package['finished'] else ', stopped waiting after --timeout'}; naive: every "
        "alert posted once, a 429 dropped)"
    )
    seconds, most = float(package["seconds"]), package["most_to_one_channel"]
    missed = scenario.targets(
        {
            f"accounted for within {TARGET_SECONDS:g} s": package["finished"]
            and seconds <= TARGET_SECONDS,
            f"at most about {TARGET_REQUESTS} requests to a channel": most <= TARGET_REQUESTS,
            "no request inside a Retry-After window": package["inside_retry_after"] == 0,
            "no alert lost": package["lost"] == 0 and package["finished"],
            "no duplicate": package["duplicates"] == 0,
        }
    )
    print()
    return missed


if __name__ == "__main__":
    sizes = {"alerts": (60, 2000, "firing alerts per storm"), "seconds": (2.0, 10.0, "over")}
    sizes |= {
        "channels": ("1,5", "1,5", "storms: channels per storm"),
        "timeout": (300.0, 300.0, "s"),
    }
    args = scenario.options(__doc__, pg_db="dsr_bench_storm", redis=True, **sizes)
    scenario.main(run, args)
