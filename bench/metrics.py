"""A metrics scrape on PostgreSQL at 10k, 100k and 1M delivery records, against counting the
whole delivery log at each scrape (one GROUP BY: what a scrape without the tally would do).

For each size a fresh log (``INSERT ... SELECT generate_series``: 30 rules over 20 channels,
92% sent, 4% failed, 1% cancelled, 3% digested, 20 pending nothing works on); the first scrape
(metrics turned on with the log already there), then scrapes each after 10 new deliveries,
and the naive GROUP BY. Exit 2 when the tally's counts disagree with the log's; ``--check``:
1 when a scrape at the largest size takes more than 100 ms.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Callable

import scenario
from scenario import TIMES, BenchmarkError, median

TARGET_MS = 100.0
SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (2_000, 10_000)
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


def traffic(numbers: Callable[[], int]) -> None:
    """What happens between two scrapes: new deliveries, recorded and sent just now."""
    start = numbers()
    insert(start, start + TRAFFIC - 1, created="now() - interval '3 seconds'", state="'sent'")


def scrape_once() -> tuple[float, bytes]:
    """One scrape, as the view makes it; its time in ms and its text."""
    from prometheus_client import CollectorRegistry, generate_latest

    from django_slack_rules.services.metrics import SlackRulesCollector

    registry = CollectorRegistry(auto_describe=False)
    registry.register(SlackRulesCollector())
    started = time.perf_counter()
    text = generate_latest(registry)
    return (time.perf_counter() - started) * 1000, text


def naive_once() -> tuple[float, Counter[str]]:
    """The whole log counted in one GROUP BY: its time in ms and the counts by state."""
    from django_slack_rules.services import tally_rows

    started = time.perf_counter()
    groups = tally_rows.aggregate("default", None, None)  # none is live: all counted
    elapsed = (time.perf_counter() - started) * 1000
    counts: Counter[str] = Counter()
    for group in groups:
        counts[group.state] += group.n
    return elapsed, counts


def tally_counts() -> Counter[str]:
    """The tally's counts by outcome (and "recorded"), after one more scrape."""
    from django_slack_rules.services import tally

    counts: Counter[str] = Counter()
    for key, amount in tally.scrape().counts.items():
        counts[key.outcome] += amount.count
    return counts


def run(args: argparse.Namespace) -> int:
    rounds, naive_rounds = (5, 2) if args.quick else (15, 3)
    settings = scenario.package_settings(SLACK_RULES={"METRICS": {"ENABLED": True}})
    with scenario.database(args, settings) as description:
        from django_slack_rules.models import SlackDelivery

        scenario.header("metrics benchmark", description)
        print(
            f"each size: the first scrape, then {rounds} scrapes with {TRAFFIC} new deliveries "
            f"before each, and the naive GROUP BY ({naive_rounds} runs)\n"
        )
        numbers = iter(range(5_000_000, 6_000_000, TRAFFIC)).__next__
        rows, disagree = [], []
        for size in args.sizes:
            fresh_log(size)
            first, _ = scrape_once()
            times = []
            for _ in range(rounds):
                traffic(numbers)
                elapsed, text = scrape_once()
                times.append(elapsed)
            assert b"slack_rules_notifications_total" in text
            naive = [naive_once() for _ in range(naive_rounds)]
            naive_ms, log, counted = median(t for t, _ in naive), naive[-1][1], tally_counts()
            log["recorded"] = records = SlackDelivery.objects.count()
            for state in ("sent", "failed", "cancelled", "digested", "recorded"):
                if counted[state] != log[state]:
                    disagree.append(f"at {size:,}, {state}: {counted[state]:,} != {log[state]:,}")
            scrape_ms = median(times)
            ratio = f"{naive_ms / scrape_ms:.1f}{TIMES}"
            rows.append([records, first, scrape_ms, max(times), naive_ms, ratio])
    titles = ["records", "first scrape ms", "scrape ms", "slowest", "naive GROUP BY ms"]
    cells = ["{:,}", "{:,.0f}", "{:.1f}", "{:.1f}", "{:.1f}", "{}"]
    scenario.table(
        [*titles, "naive/scrape"], [[f.format(c) for f, c in zip(cells, r)] for r in rows]
    )
    if disagree:
        raise BenchmarkError(f"the tally's counts disagree with the log: {'; '.join(disagree)}")
    print("the tally's counts agree with the delivery log at every size")
    at = f"a scrape at {args.sizes[-1]:,} records takes {scrape_ms:.1f} ms"
    return (
        scenario.targets({f"{at} (target ≤ {TARGET_MS:.0f} ms)": scrape_ms <= TARGET_MS})
        and args.check
    )


def parse_args() -> argparse.Namespace:
    parser = scenario.options(
        __doc__, pg_db="dsr_bench_metrics", quick="2,000 and 10,000 records (CI)"
    )
    parser.add_argument("--sizes", help="comma-separated record counts (default 10k,100k,1M)")
    args = parser.parse_args()
    args.sizes = scenario.numbers(parser, "sizes", args.sizes) or (
        QUICK_SIZES if args.quick else SIZES
    )
    return args


if __name__ == "__main__":
    scenario.main(run, parse_args())
