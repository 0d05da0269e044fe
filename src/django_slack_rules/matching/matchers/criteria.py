"""A rule's criteria: a dict (equality) or a list of matcher strings, read and written."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .errors import CriteriaError, MatcherSyntaxError, _Failure
from .matcher import (
    _CLASSIC_NAME,
    _EXAMPLE,
    EQUAL,
    NOT_REGEX,
    REGEX,
    Criteria,
    Matcher,
    _is_reserved,
)
from .regex import Regex, _compile_regex, _RegexFailure
from .syntax import _parse_classic, _Parsed
from .utf8 import _parse_utf8, _skip_go_space


def _parse(text: str) -> _Parsed | _Failure:
    """Alertmanager's default: the classic parser, else the UTF-8 one. When both refuse,
    the error is the one of the parser the label name is written for."""
    stripped = text.strip()
    if stripped.startswith("{") or stripped.endswith("}"):
        position = text.index("{") if stripped.startswith("{") else text.rindex("}")
        brace = text[position]
        return _Failure(
            position,
            f'unexpected "{brace}" at position {position}: write each matcher as its own entry '
            f"without braces, e.g. {_EXAMPLE}",
        )
    classic = _parse_classic(text)
    if isinstance(classic, _Parsed):
        return classic
    utf8 = _parse_utf8(text)
    if isinstance(utf8, _Parsed):
        return utf8
    start = _skip_go_space(text, 0)
    name = _CLASSIC_NAME.match(text, start)
    written_classic = name is not None and (
        name.end() >= len(text) or _is_reserved(text[name.end()])
    )
    return classic if written_classic else utf8


def _build(parsed: _Parsed, text: str, index: int | None) -> Matcher:
    regex: Regex | None = None
    if parsed.op in (REGEX, NOT_REGEX):
        compiled = _compile_regex(parsed.value, parsed.positions)
        if isinstance(compiled, _RegexFailure):
            raise compiled.error(text, parsed.value_start, index)
        regex = compiled
    return Matcher(parsed.name, parsed.op, parsed.value, regex=regex)


def _check_text(text: object, index: int | None) -> str:
    if not isinstance(text, str):
        where = f"matcher {index + 1}" if index is not None else "a matcher"
        raise CriteriaError(
            f"{where} must be a string such as {_EXAMPLE!r}, not {_kind(text)} ({text!r})",
            index=index,
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MatcherSyntaxError(
            text, exc.start, f"the text is not valid UTF-8 at position {exc.start}", index=index
        ) from None
    return text


def parse_matcher(text: object, *, index: int | None = None) -> Matcher:
    """One Alertmanager matcher, e.g. ``severity=~"critical|page"``.

    Raises :class:`MatcherSyntaxError` (:class:`MatcherRegexError` for a regex RE2
    refuses) with the position and a way to write it right. ``index`` (0-based) is the
    entry's place in a criteria list, named in the message.
    """
    text = _check_text(text, index)
    parsed = _parse(text)
    if isinstance(parsed, _Failure):
        raise MatcherSyntaxError(text, parsed.position, parsed.detail, index=index)
    return _build(parsed, text, index)


def _split_classic(text: str) -> list[tuple[int, str]]:
    """Alertmanager's ParseMatchers splitting: commas outside double quotes, with
    ``\\"`` not ending a quote. Each piece with its offset in ``text``."""
    pieces: list[tuple[int, str]] = []
    inside = escaped = False
    start = 0
    for i, char in enumerate(text):
        if char == "," and not inside:
            pieces.append((start, text[start:i]))
            start = i + 1
            continue
        if char == '"':
            if not escaped:
                inside = not inside
            else:
                escaped = False
        elif char == "\\":
            escaped = not escaped
        elif char != ",":
            escaped = False
    pieces.append((start, text[start:]))
    return pieces


def parse_matchers(text: object) -> tuple[Matcher, ...]:
    """Several matchers in one text, as Alertmanager reads a ``matchers:`` entry or
    amtool's argument: ``{severity="critical", team=~"db|web"}`` or without braces,
    separated by commas outside quotes; a trailing comma is allowed. Each matcher is read
    as :func:`parse_matcher` reads it (so a bare value cannot contain a comma here
    either). ``""`` and ``{}`` are no matchers.
    """
    text = _check_text(text, None)
    body_start = 0
    body_end = len(text)
    stripped_start = len(text) - len(text.lstrip())
    stripped_end = len(text.rstrip())
    if text.startswith("{", stripped_start):
        body_start = stripped_start + 1
    if stripped_end > body_start and text[stripped_end - 1] == "}":
        body_end = stripped_end - 1
    pieces = _split_classic(text[body_start:body_end])
    if pieces and not pieces[-1][1].strip():
        pieces.pop()  # a trailing comma, or nothing at all
    matchers = []
    for offset, piece in pieces:
        parsed = _parse(piece)
        if isinstance(parsed, _Failure):
            raise MatcherSyntaxError(text, body_start + offset + parsed.position, parsed.detail)
        shifted = _Parsed(
            parsed.name,
            parsed.op,
            parsed.value,
            body_start + offset + parsed.value_start,
            [body_start + offset + p for p in parsed.positions],
        )
        matchers.append(_build(shifted, text, None))
    return tuple(matchers)


def _kind(value: object) -> str:
    names = {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        list: "a list",
        dict: "an object",
    }
    if value is None:
        return "null"
    if isinstance(value, str):
        return "a string"
    return names.get(type(value), type(value).__name__)


def parse_criteria(criteria: Criteria) -> tuple[Matcher, ...]:
    """A rule's ``match_criteria`` as matchers; all must match.

    A dict is the equality form (each label present with that value; keys sorted); a
    list holds one Alertmanager matcher string per entry, kept in order. Raises
    :class:`CriteriaError` (:class:`MatcherSyntaxError` for a matcher's text) naming the
    entry.
    """
    if isinstance(criteria, Mapping):
        matchers = []
        for key, value in sorted(criteria.items(), key=lambda item: str(item[0])):
            if not isinstance(key, str) or not key.strip():
                raise CriteriaError(
                    f"match criteria keys must be non-empty label names; got {key!r}"
                )
            if not isinstance(value, str):
                raise CriteriaError(
                    f"label {key!r}: the value must be a string, not {_kind(value)} ({value!r}); "
                    f'quote it: {{"{key}": "{value}"}}'
                )
            matchers.append(Matcher(key, EQUAL, value, require_present=True))
        return tuple(matchers)
    if isinstance(criteria, (list, tuple)):
        return tuple(parse_matcher(text, index=i) for i, text in enumerate(criteria))
    raise CriteriaError(
        "match criteria must be an object of label → value such as "
        '{"severity": "critical"}, or a list of Alertmanager matchers such as '
        f'["severity=~\\"critical|page\\"", "team!=\\"db\\""], not {_kind(criteria)}'
    )


def format_matchers(matchers: Iterable[Matcher]) -> list[str]:
    """The list form of ``matchers``: each one's canonical Alertmanager text, in order.

    A dict-form equality on an empty value (``{"team": ""}``: present and empty) has no
    Alertmanager text, which cannot tell an empty label from a missing one: ValueError.
    """
    texts = []
    for matcher in matchers:
        if matcher.require_present and matcher.value == "":
            raise ValueError(
                f"The criteria {{{matcher.name!r}: ''}} (label present and empty) cannot be "
                f'written as an Alertmanager matcher: {matcher.name}="" also matches an '
                f'alert without the label. Keep the object form, or write {matcher.name}="" '
                "if a missing label should match too."
            )
        texts.append(str(matcher))
    return texts


def canonical_criteria(criteria: Criteria) -> dict[str, str] | list[str]:
    """``criteria`` validated and written canonically, in the form it came in: a dict
    with sorted keys, or a list of canonical matcher texts in their order."""
    matchers = parse_criteria(criteria)
    if isinstance(criteria, Mapping):
        return {m.name: m.value for m in matchers}
    return format_matchers(matchers)
