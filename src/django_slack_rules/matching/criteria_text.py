"""A rule's criteria as text an operator types, and back (the rule form's box).

The box takes either form of ``match_criteria``:

- JSON: an object ``{"team": "db"}`` (equality, label present) or a list of matcher
  strings ``["severity=~\\"critical|page\\""]``;
- Alertmanager matchers, one a line (``severity=~"critical|page"``), or several as
  Alertmanager writes them in a ``matchers:`` entry (``{team="db", env=~"prod|eu"}``,
  ``team="db", env="prod"``). They are stored as the list form, each matcher canonical.

Pure: the standard library and :mod:`.matchers`.
"""

from __future__ import annotations

import json

from ..typing import JSONValue
from .matchers import CriteriaError, Matcher, MatcherSyntaxError, parse_matcher, parse_matchers


class CriteriaTextError(ValueError):
    """Text that is neither JSON nor matchers: ``json_error`` (a :class:`json.JSONDecodeError`)
    or ``matcher_error`` with the 1-based ``line`` it is on."""

    def __init__(
        self,
        *,
        json_error: json.JSONDecodeError | None = None,
        matcher_error: CriteriaError | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(str(json_error or matcher_error))
        self.json_error = json_error
        self.matcher_error = matcher_error
        self.line = line


def criteria_from_text(text: str) -> JSONValue:
    """The ``match_criteria`` value ``text`` stands for (not validated beyond parsing: a JSON
    value of the wrong shape comes back as it is, for the validators to name).

    Raises :class:`CriteriaTextError`; ``""`` (only whitespace) is ``None``.
    """
    stripped = text.strip()
    if not stripped:
        return None
    try:
        return json.loads(stripped)
    except json.JSONDecodeError as exc:
        json_error = exc
    if stripped.startswith("{"):
        # Alertmanager's own way of writing several matchers: {team="db", env="prod"}.
        try:
            texts: list[JSONValue] = [str(m) for m in parse_matchers(stripped)]
            return texts
        except CriteriaError:
            raise CriteriaTextError(json_error=json_error) from None
    if stripped.startswith("["):
        raise CriteriaTextError(json_error=json_error)
    found: list[JSONValue] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            found += [str(m) for m in _line_matchers(line.strip(), number)]
    return found


def _line_matchers(line: str, number: int) -> tuple[Matcher, ...]:
    try:
        return (parse_matcher(line),)
    except MatcherSyntaxError as exc:
        first = exc
    try:
        return parse_matchers(line)  # a="1", b="2": several on one line
    except CriteriaError:
        raise CriteriaTextError(matcher_error=first, line=number) from None


def criteria_to_text(criteria: object) -> str:
    """The text the box shows for stored criteria: JSON for an object, one matcher a line
    for a list (JSON when an entry would not fit on its line), ``[]``/``{}`` when empty."""
    if isinstance(criteria, list) and criteria:
        if all(isinstance(t, str) and t.strip() and "\n" not in t for t in criteria):
            return "\n".join(t.strip() for t in criteria)
        return json.dumps(criteria, ensure_ascii=False)
    if isinstance(criteria, dict) and criteria:
        return json.dumps(criteria, ensure_ascii=False, indent=2)
    return json.dumps(criteria if criteria is not None else {}, ensure_ascii=False)
