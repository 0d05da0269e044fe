"""What the rules will not do, route by route, for the report: inhibition, template files,
time intervals, grouping and timing, receivers that are not Slack, and
the global webhook URLs.
"""

from __future__ import annotations

from collections.abc import Mapping

from .config import _sequence
from .result import NOT_IMPORTED, NOTE, ReportLine
from .routes import _Route

_TIMING_KEYS = ("group_by", "group_wait", "group_interval", "repeat_interval")


def _report_configuration(
    config: Mapping[str, object],
    root: _Route,
    receivers: Mapping[str, Mapping[str, object]],
    report: list[ReportLine],
) -> None:
    """What the rules will not do: grouping, timing, intervals, inhibition, other receivers."""
    for i, _ in enumerate(_sequence(config.get("inhibit_rules"), "inhibit_rules")):
        report.append(
            ReportLine(
                NOT_IMPORTED,
                f"inhibit_rules[{i}]",
                "inhibition is not imported: alerts it would mute are sent (silence them "
                "in Alertmanager, which the package honours as is_silenced)",
            )
        )
    if _sequence(config.get("templates"), "templates"):
        report.append(
            ReportLine(
                NOTE,
                "templates",
                "template files are not read: a Slack template using their named templates is "
                "reported and gets the default message",
            )
        )
    for route in root.subtree():
        for key in ("mute_time_intervals", "active_time_intervals"):
            names = _sequence(route.raw.get(key), f"{route.path}.{key}")
            if names:
                report.append(
                    ReportLine(
                        NOT_IMPORTED,
                        route.path,
                        f"{key} ({', '.join(map(str, names))}) not imported: its rules send "
                        "at any time",
                    )
                )
        timing = [key for key in _TIMING_KEYS if key in route.raw]
        if timing:
            report.append(
                ReportLine(
                    NOT_IMPORTED,
                    route.path,
                    f"{', '.join(timing)} not imported: the package sends one message per "
                    "alert as it fires and resolves, without grouping or repeats",
                )
            )
    for name, raw in receivers.items():
        kinds = sorted(
            key
            for key, value in raw.items()
            if key.endswith("_configs") and key != "slack_configs" and value
        )
        if kinds:
            has_slack = bool(raw.get("slack_configs"))
            report.append(
                ReportLine(
                    NOT_IMPORTED,
                    f"receiver {name!r}",
                    f"{', '.join(kinds)} not imported"
                    + ("" if has_slack else ": its routes get no rule"),
                )
            )
        elif not raw.get("slack_configs"):
            report.append(
                ReportLine(
                    NOTE,
                    f"receiver {name!r}",
                    "sends nowhere (no configs): its routes get no rule",
                )
            )
    global_ = config.get("global")
    if isinstance(global_, Mapping) and any(str(k).startswith("slack_api_url") for k in global_):
        report.append(
            ReportLine(
                NOTE,
                "global",
                "Slack webhook URLs are not imported: the gateway holds them "
                "(docs/gateway.md), one webhook per channel",
            )
        )
