"""The package's named types, each defined once: what a JSON value, a primary key, a
template context and the rule the pure modules read are, so a signature says what it holds
instead of ``Any``.

Aliases and a Protocol (no runtime cost); written with ``Union`` since Python 3.9 evaluates
module-level aliases. Nothing here imports the package: every layer may use it.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Protocol, Union

#: A value as :func:`json.loads` gives it (and :func:`json.dumps` takes it).
JSONValue = Union[str, int, float, bool, None, list["JSONValue"], dict[str, "JSONValue"]]
#: A JSON object: a Slack payload, a Block Kit block, a rule's match criteria.
JSONObject = dict[str, JSONValue]

#: A primary key: an ``AutoField``'s int, or the str a form, a URL or a task carries.
Id = Union[int, str]

#: Alert labels or annotations as a host stores them: names to values of any kind
#: (:func:`~django_slack_rules.matching.labels.normalize_labels` makes them str → str).
RawLabels = Mapping[str, object]

#: What :func:`~django_slack_rules.rendering.templates.to_plain_data` leaves: data a
#: template can read and never call.
PlainValue = Union[
    str,
    int,
    float,
    bool,
    None,
    datetime.date,
    datetime.datetime,
    datetime.time,
    list["PlainValue"],
    dict[str, "PlainValue"],
]

#: A value argparse parsed for a management command's option: of the type its argument
#: declares (``type=int``, ``action="store_true"``...), which argparse does not tell mypy.
OptionValue = Any  # Any: see above; one name for every command's options

#: A template context: names to values (a Django ``Context`` takes any value).
TemplateContext = dict[str, object]


class HostAlert(Protocol):
    """A host's alert object as the package reads it itself: its primary key. Everything
    else is read through the adapter (:class:`~django_slack_rules.adapters.BaseAlertAdapter`),
    which names the alert's own type."""

    @property
    def pk(self) -> object: ...


class RuleFields(Protocol):
    """What the pure parts (rendering, the sample alert) read of a rule: a
    :class:`~django_slack_rules.models.SlackIntegrationRule`, saved or not."""

    @property
    def name(self) -> str: ...
    @property
    def slack_channel(self) -> str: ...
    @property
    def priority(self) -> int: ...
    @property
    def match_criteria(self) -> object: ...
    @property
    def blocks_template(self) -> str: ...
