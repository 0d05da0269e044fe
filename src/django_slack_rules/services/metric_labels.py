"""Bounded label values for the metrics: the first channels and rules met get a label value
of their own, up to a limit (``SLACK_RULES["METRICS"]["MAX_LABEL_VALUES"]``); the rest are
counted together as ``other``. A value once given keeps its place, so a series never moves
to ``other`` while the limit stays (lowering the limit folds the last ones into ``other``).
"""

from __future__ import annotations

from collections.abc import Iterable

#: The label value of what is beyond the limit.
OTHER = "other"
#: The rule label of a digest (one message for the deliveries of several alerts, and maybe
#: of several rules).
DIGEST_RULE = "(digest)"
#: Values counted as they are, never given a place: none, a digest, and "other" itself.
_FIXED = frozenset({"", OTHER, DIGEST_RULE})


class LabelValues:
    """The channels and rules given a label value, in the order they came, and the limit."""

    def __init__(
        self, channels: Iterable[str] = (), rules: Iterable[str] = (), limit: int = 100
    ) -> None:
        self.channels = list(channels)
        self.rules = list(rules)
        self.limit = limit
        self._channel_at = {value: i for i, value in enumerate(self.channels)}
        self._rule_at = {value: i for i, value in enumerate(self.rules)}

    def admit(self, channels: Iterable[str], rules: Iterable[str]) -> None:
        """Give places to new values while there are places (in sorted order, so the same
        values get the same places in any process)."""
        _admit(self.channels, self._channel_at, channels, self.limit)
        _admit(self.rules, self._rule_at, rules, self.limit)

    def channel(self, value: str) -> str:
        """The label value to count ``value`` under: itself when it has a place."""
        return value if value in _FIXED or value in self._channel_at else OTHER

    def rule(self, value: str) -> str:
        return value if value in _FIXED or value in self._rule_at else OTHER

    def shown_channel(self, value: str) -> str:
        """The label value a count stored under ``value`` is shown with, under the limit
        in force now."""
        return _shown(value, self._channel_at, self.limit)

    def shown_rule(self, value: str) -> str:
        return _shown(value, self._rule_at, self.limit)


def _admit(places: list[str], index: dict[str, int], values: Iterable[str], limit: int) -> None:
    for value in sorted(set(values) - _FIXED - set(index)):
        if len(places) >= limit:
            return
        index[value] = len(places)
        places.append(value)


def _shown(value: str, index: dict[str, int], limit: int) -> str:
    if value in _FIXED:
        return value
    place = index.get(value)
    return value if place is not None and place < limit else OTHER
