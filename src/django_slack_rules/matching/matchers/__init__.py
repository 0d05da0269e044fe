"""Alertmanager label matchers: parsing, matching, and which rules get an alert.

A rule's ``match_criteria`` has two forms:

- a dict ``{"severity": "critical"}``: equality, as it always was. Each label must be
  present with that value (even an empty one); ``{}`` matches every alert.
- a list of Alertmanager matcher strings ``['severity=~"critical|page"', 'team!="db"']``:
  Alertmanager's matchers with its semantics. A missing label is the empty string, so
  ``team!="db"`` matches an alert without ``team`` and ``team=""`` matches a missing
  label; regexes are anchored at both ends (``^(?:…)$``, as Alertmanager compiles
  them); ``[]`` matches every alert.

Regexes are RE2 (``google-re2``): Alertmanager's syntax family (Go's ``regexp`` is RE2)
and linear-time matching, so no pattern a rule author writes can hang alert processing.
Backreferences and lookarounds, which RE2 does not have, are refused when the matcher
is parsed, with the position and a way to write it instead.

The matcher syntax is what Alertmanager accepts by default (its "fallback" parser since
0.27, and the classic one before it):

- a label name bare (``[a-zA-Z_:][a-zA-Z0-9_:]*``), or any UTF-8 name: bare when it has
  no whitespace and none of ``{}!=~,\\"'``, ``` ` ```, else in double quotes
  (``"service.name"="api"``);
- one of ``=``, ``!=``, ``=~``, ``!~``; whitespace around the three parts is ignored;
- a value, bare or in double quotes. With a classic (bare ``[a-zA-Z_:]…``) label name the
  value follows Alertmanager's classic rules: ``\\"``, ``\\\\`` and ``\\n`` are escapes and
  a backslash before anything else is kept, so ``code=~"5\\d\\d"`` works; a bare value runs
  to the end of the text. With any other label name the value is read by Alertmanager's
  UTF-8 parser: a quoted value is a Go string literal (``\\t``, ``\\u00e9``, … are escapes,
  a stray backslash is an error), a bare value stops at whitespace or a reserved character.

Two things are stricter than Alertmanager, because a rule's criteria list holds one
matcher per entry: a bare value must not contain ``,`` (``severity=critical,team=db``
would silently be one matcher whose value is ``critical,team=db``; write two entries, or
quote the value), and braces are refused. :func:`parse_matchers` reads Alertmanager's
multi-matcher text (``{a="1", b=~"2"}``, a ``matchers:`` entry of its configuration).

This package is pure (stdlib and ``re2``): the model, the rule index, forms and the
Alertmanager import all build on it.
"""

from .criteria import (
    canonical_criteria,
    format_matchers,
    parse_criteria,
    parse_matcher,
    parse_matchers,
)
from .errors import CriteriaError, MatcherRegexError, MatcherSyntaxError, describe_matcher
from .fanout import (
    MatchingRule,
    PlainRule,
    failing_matchers,
    fan_out,
    matches_all,
    positive_equalities,
    rank_key,
    select_rules,
)
from .matcher import (
    EQUAL,
    NEGATED,
    NOT_EQUAL,
    NOT_REGEX,
    OPERATORS,
    REGEX,
    Criteria,
    Matcher,
    is_classic_label_name,
)

__all__ = [
    "EQUAL",
    "NEGATED",
    "NOT_EQUAL",
    "NOT_REGEX",
    "OPERATORS",
    "REGEX",
    "Criteria",
    "CriteriaError",
    "Matcher",
    "MatcherRegexError",
    "MatcherSyntaxError",
    "MatchingRule",
    "PlainRule",
    "canonical_criteria",
    "describe_matcher",
    "failing_matchers",
    "fan_out",
    "format_matchers",
    "is_classic_label_name",
    "matches_all",
    "parse_criteria",
    "parse_matcher",
    "parse_matchers",
    "positive_equalities",
    "rank_key",
    "select_rules",
]
