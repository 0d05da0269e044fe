"""A metrics scrape on PostgreSQL at 10k, 100k and 1M delivery records, against counting the
whole delivery log at each scrape (one GROUP BY: what a scrape without the tally would do).
Exit 2 when the tally's counts disagree with the log's."""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import scenario
from scenario import TIMES, BenchmarkError, median

TARGET_MS = 100.0
TRAFFIC = 10  # deliveries recorded and sent between two scrapes
STUCK = 20  # pending deliveries nothing works on


_COLUMNS = (
    "rule_name, alert_id, fingerprint, alertname, severity, alert_status, occurrence, "
    "idempotency_key, channel, text, state, attempts, last_error, slack_error, failure_reason, "
    "response, message_ts, action, channel_id, thread_ts, note, created_at, updated_at, sent_at"
)
_STATE = (
    "CASE WHEN g %% 200 = 0 THEN 'sent' WHEN g %% 25 = 1 THEN 'failed' "
    "WHEN g %% 100 = 2 THEN 'cancelled' WHEN g %% 33 = 3 THEN 'digested' ELSE 'sent' END"
)
_REASONS = "(ARRAY['slack_error','timeout','gateway_unreachable','rate_limited','other'])"


def insert(first: int, last: int, *, created: str, state: str = _STATE) -> None:
    """Deliveries ``first`` to ``last`` (numbers), made at ``created`` (SQL of ``g``)."""
    from django.db import connection

    sql = f"""
        INSERT INTO django_slack_rules_slackdelivery ({_COLUMNS})
        SELECT 'rule-' || (g %% 30), g::text, '', 'HighCPU', 'critical',
               CASE WHEN g %% 200 = 0 THEN 'digest' WHEN g %% 3 = 0 THEN 'resolved'
                    ELSE 'firing' END,
               '', 'bench-' || g, '#channel-' || (g %% 30 %% 20), '', s.state, 1, '', '',
               CASE WHEN s.state = 'failed' THEN {_REASONS}[1 + g %% 5] ELSE '' END,
               '', '', 'post', '', '', '', c.at, c.at,
               CASE WHEN s.state = 'sent' THEN c.at + (g %% 37) * interval '0.2 seconds' END
        FROM generate_series(%s, %s) AS g,
             LATERAL (SELECT {state} AS state) AS s,
             LATERAL (SELECT {created} AS at) AS c
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [first, last])
        cursor.execute("ANALYZE django_slack_rules_slackdelivery")


def fresh_log(size: int) -> None:
    """A log of ``size`` records (2 seconds apart, the last one 10 minutes ago) and the
    deliveries nothing works on, with no tally yet (metrics turned on now)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE django_slack_rules_slackdelivery, django_slack_rules_metricscount, "
            "django_slack_rules_metricsopendelivery, django_slack_rules_metricstally, "
            "django_slack_rules_slackaction"
        )
    insert(1, size, created="now() - interval '10 minutes' - (2000000 - g) * interval '2 s'")
    insert(4_000_000, 4_000_000 + STUCK - 1, created="now() - interval '1 hour'", state="'pending'")


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """``fn()``'s time in ms, and what it returned."""
    started = time.perf_counter()
    result = fn()
    return (time.perf_counter() - started) * 1e3, result


def run(args: argparse.Namespace) -> int:
    rounds, naive_rounds = (5, 2) if args.quick else (15, 3)
    settings = scenario.package_settings(SLACK_RULES={"METRICS": {"ENABLED": True}})
    with scenario.database(args, settings) as description:
        from prometheus_client import CollectorRegistry, generate_latest

        from django_slack_rules.models import SlackDelivery
        from django_slack_rules.services import tally, tally_rows
        from django_slack_rules.services.metrics import SlackRulesCollector

        def scrape() -> bytes:  # as the view makes it
            registry = CollectorRegistry(auto_describe=False)
            registry.register(SlackRulesCollector())
            return generate_latest(registry)

        scenario.header("metrics benchmark", description)
        print(f"{rounds} scrapes after {TRAFFIC} new deliveries each, {naive_rounds} naive\n")
        numbers = iter(range(5_000_000, 6_000_000, TRAFFIC)).__next__
        rows, disagree = [], []
        for size in args.sizes:
            fresh_log(size)
            first, _ = timed(scrape)
            times = []
            for _ in range(rounds):  # new deliveries, recorded and sent just now
                start = numbers()
                insert(start, start + TRAFFIC - 1, created="now() - interval '3 s'", state="'sent'")
                elapsed, text = timed(scrape)
                times.append(elapsed)
            assert b"slack_rules_notifications_total" in text
            # the whole log in one GROUP BY (none is live: all counted)
            naive = [
                timed(lambda: tally_rows.aggregate("default", None, None))
                for _ in range(naive_rounds)
            ]
            log, tallied = Counter(recorded=SlackDelivery.objects.count()), Counter()
            for group in naive[-1][1]:
                log[group.state] += group.n
            for key, amount in tally.scrape().counts.items():  # by outcome, and "recorded"
                tallied[key.outcome] += amount.count
            for state in ("sent", "failed", "cancelled", "digested", "recorded"):
                if tallied[state] != log[state]:
                    disagree.append(f"at {size:,}, {state}: {tallied[state]:,} != {log[state]:,}")
            scrape_ms, naive_ms = median(times), median(t for t, _ in naive)
            ratio = f"{naive_ms / scrape_ms:.1f}{TIMES}"
            rows.append([log["recorded"], first, scrape_ms, max(times), naive_ms, ratio])
    titles = ["records", "first scrape ms", "scrape ms", "slowest", "naive GROUP BY ms"]
    cells = ["{:,}", "{:,.0f}", "{:.1f}", "{:.1f}", "{:,.1f}", "{}"]
    scenario.table(
        [*titles, "naive/scrape"], [[f.format(c) for f, c in zip(cells, r)] for r in rows]
    )
    if disagree:
        raise BenchmarkError(f"the tally's counts disagree with the log: {'; '.join(disagree)}")
    print("the tally's counts agree with the delivery log at every size")
    at = f"a scrape at {args.sizes[-1]:,} records takes {scrape_ms:.1f} ms"
    missed = scenario.targets({f"{at} (target ≤ {TARGET_MS:.0f} ms)": scrape_ms <= TARGET_MS})
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    scenario.main(
        run,
        scenario.options(
            __doc__,
            pg_db="dsr_bench_metrics",
            sizes=("2000,10000", "10000,100000,1000000", "delivery records"),
        ),
    )
