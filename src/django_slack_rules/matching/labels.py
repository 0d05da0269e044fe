"""Alert labels as the package compares them: ``str`` → ``str``, as Alertmanager sends them."""

from __future__ import annotations

from collections.abc import Mapping

Labels = dict[str, str]


def normalize_labels(labels: Mapping[str, object] | None) -> Labels:
    """Labels as str → str (what Alertmanager sends); None values are dropped."""
    return {str(k): str(v) for k, v in (labels or {}).items() if v is not None}
