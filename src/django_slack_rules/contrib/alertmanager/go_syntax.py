"""Reading a Go template (Alertmanager's ``text/template``): its text and actions, and the
words and string literals of an action. Only what :mod:`.templates` converts needs reading;
anything else raises :class:`UnsupportedTemplate` naming the action."""

from __future__ import annotations

import re


class UnsupportedTemplate(ValueError):
    """A Go template the import does not convert; the message names the action."""


def tokens(source: str) -> list[tuple[str, str]]:
    """``("text", …)`` and ``("action", …)`` pieces, with ``{{-``/``-}}`` trimming done."""
    pieces: list[tuple[str, str]] = []
    i = 0
    trim_next = False
    while True:
        start = source.find("{{", i)
        text = source[i:] if start == -1 else source[i:start]
        if trim_next:
            text = text.lstrip(" \t\r\n")
        if start == -1:
            pieces.append(("text", text))
            return pieces
        body_start = start + 2
        if source.startswith("- ", body_start) or source.startswith("-\t", body_start):
            text = text.rstrip(" \t\r\n")
            body_start += 1
        pieces.append(("text", text))
        end = _action_end(source, body_start)
        if end == -1:
            raise UnsupportedTemplate(f"{source[start : start + 30]!r} has no closing }}}}")
        body = source[body_start:end]
        trim_next = False
        if body.endswith((" -", "\t-")):
            body = body[:-1]
            trim_next = True
        pieces.append(("action", body.strip()))
        i = end + 2


def _action_end(source: str, i: int) -> int:
    """The index of the ``}}`` closing an action, skipping strings and comments."""
    n = len(source)
    while i < n:
        char = source[i]
        if source.startswith("/*", i):
            close = source.find("*/", i + 2)
            if close == -1:
                return -1
            i = close + 2
            continue
        if char in "\"`'":
            j = i + 1
            while j < n and source[j] != char:
                j += 2 if source[j] == "\\" and char != "`" else 1
            i = j + 1
            continue
        if source.startswith("}}", i):
            return i
        i += 1
    return -1


def split_words(action: str) -> list[str]:
    """An action's words: strings kept whole, ``|`` as its own word."""
    return re.findall(r'"(?:\\.|[^"\\])*"|`[^`]*`|\||[^\s|]+', action)


def string_literal(word: str, action: str) -> str:
    if len(word) >= 2 and word[0] == word[-1] and word[0] in '"`':
        value = word[1:-1]
        if word[0] == '"':
            value = re.sub(r"\\(.)", r"\1", value)
        if '"' in value or "\\" in value:
            raise UnsupportedTemplate(f"the string {word} in {{{{ {action} }}}}")
        return value
    raise UnsupportedTemplate(f"{word!r} in {{{{ {action} }}}} is not a string")
