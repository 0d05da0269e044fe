"""Slack's mrkdwn as HTML, for the preview: what Slack shows, not the markup it gets.

Pure (no database, no network). The input is message text as Slack gets it (alert
values escaped as ``&amp;``, ``&lt;``, ``&gt;``); the output is HTML in which every
character of that text is escaped, and only this module's own tags are markup:
bold, italic, strike, code, preformatted blocks, quotes, links (http, https and
mailto only), channel and user mentions, ``@here``/``@channel``, and the common
emoji shortcodes. Anything it does not understand is shown as typed.
"""

from __future__ import annotations

import re

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

#: The shortcodes alert messages use most, as Slack shows them.
EMOJI = {
    "+1": "👍", "-1": "👎", "alarm_clock": "⏰", "arrow_down": "⬇️", "arrow_up": "⬆️",
    "bangbang": "‼️", "bell": "🔔", "bomb": "💣", "boom": "💥", "bulb": "💡",
    "chart_with_downwards_trend": "📉", "chart_with_upwards_trend": "📈", "check": "✔️",
    "clock1": "🕐", "construction": "🚧", "fire": "🔥", "ghost": "👻", "green_heart": "💚",
    "heart": "❤️", "heavy_check_mark": "✔️", "hourglass": "⌛", "information_source": "\u2139\ufe0f",
    "large_blue_circle": "🔵", "large_green_circle": "🟢", "large_orange_circle": "🟠",
    "large_purple_circle": "🟣", "large_yellow_circle": "🟡", "link": "🔗", "lock": "🔒",
    "mag": "🔍", "memo": "📝", "no_entry": "⛔", "no_entry_sign": "🚫", "ok": "🆗",
    "ok_hand": "👌", "pager": "📟", "point_right": "👉", "question": "❓",
    "red_circle": "🔴", "repeat": "🔁", "rocket": "🚀", "rotating_light": "🚨", "siren": "🚨",
    "skull": "💀", "small_red_triangle": "🔺", "snail": "🐌", "sos": "🆘", "sparkles": "✨",
    "stopwatch": "⏱️", "tada": "🎉", "thinking_face": "🤔", "thumbsdown": "👎",
    "thumbsup": "👍", "warning": "⚠️", "white_check_mark": "✅", "white_circle": "⚪",
    "x": "❌", "yellow_circle": "🟡", "zap": "⚡", "zzz": "💤", "large_red_circle": "🔴",
    "black_circle": "⚫", "heavy_exclamation_mark": "❗", "exclamation": "❗",
    "broken_heart": "💔", "computer": "💻", "floppy_disk": "💾", "gear": "⚙️",
    "hammer_and_wrench": "🛠️", "wrench": "🔧", "eyes": "👀", "wave": "👋",
    "calendar": "📆", "email": "📧", "package": "📦", "pushpin": "📌",
}  # fmt: skip

_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))
_ANGLE = re.compile(r"<([^<>\n]+)>")
_CODE_BLOCK = re.compile(r"```(.*?)```", re.DOTALL)
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_EMOJI_RE = re.compile(r":([a-z0-9_+\-]+):")
_URL_SCHEMES = ("http://", "https://", "mailto:")


def _style(mark: str, tag: str) -> tuple[re.Pattern[str], str]:
    m = re.escape(mark)
    # Slack's rule: the mark hugs its text and does not touch a word on the outside.
    pattern = re.compile(rf"(?<![\w{m}]){m}(?=\S)([^{m}\n]*?\S){m}(?![\w{m}])")
    return pattern, rf"<{tag}>\1</{tag}>"


_STYLES = [_style("*", "strong"), _style("_", "em"), _style("~", "del")]


def unescape_slack(text: str) -> str:
    """Slack's three escapes back to characters (``&amp;lt;`` stays ``&lt;``)."""
    for entity, char in _ENTITIES[:2]:
        text = text.replace(entity, char)
    return text.replace("&amp;", "&")


def emojize(html: str) -> str:
    """Known ``:shortcode:`` → the emoji; unknown ones stay as typed."""
    return _EMOJI_RE.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), html)


def safe_url(url: str) -> str:
    """``url`` if it is http(s) or mailto, else "" (no ``javascript:`` in a preview)."""
    url = url.strip()
    return url if url.lower().startswith(_URL_SCHEMES) else ""


def _text(text: str) -> str:
    """Plain text between Slack's ``<…>`` constructs: escaped, then styled."""
    parts = _CODE_SPAN.split(text)
    out = []
    for index, part in enumerate(parts):
        html: str = escape(unescape_slack(part))
        if index % 2:  # inside `code`
            out.append(f"<code>{html}</code>")
            continue
        for pattern, replacement in _STYLES:
            html = pattern.sub(replacement, html)
        out.append(emojize(html))
    return "".join(out)


def _mention(kind: str, label: str) -> str:
    return f'<span class="dsr-mention dsr-mention-{kind}">{escape(label)}</span>'


def _angle(inner: str) -> str:
    """One ``<…>`` construct: a link, a mention, or (not understood) the text as typed."""
    target, _, label = inner.partition("|")
    label = unescape_slack(label)
    if target.startswith("!"):
        special = target[1:]
        if special in ("here", "channel", "everyone"):
            return _mention("special", label or f"@{special}")
        if special.startswith("subteam^"):
            return _mention("group", label or f"@{special[8:]}")
        if special.startswith("date^"):
            return escape(label or special)
        return escape(f"<{unescape_slack(inner)}>")
    if target.startswith("#"):
        return _mention("channel", f"#{label or target[1:]}")
    if target.startswith("@"):
        return _mention("user", f"@{label or target[1:]}")
    url = safe_url(unescape_slack(target))
    if url:
        shown = label or url.removeprefix("mailto:")
        return (
            f'<a href="{escape(url)}" rel="nofollow noopener noreferrer" target="_blank">'
            f"{_text(shown) if label else escape(shown)}</a>"
        )
    return escape(f"<{unescape_slack(inner)}>")


def _line(line: str) -> str:
    out, last = [], 0
    for match in _ANGLE.finditer(line):
        out.append(_text(line[last : match.start()]))
        out.append(_angle(match.group(1)))
        last = match.end()
    out.append(_text(line[last:]))
    return "".join(out)


def _paragraphs(text: str) -> str:
    """Lines, with ``>`` (or ``&gt;``) quotes grouped into blockquotes."""
    html: list[str] = []
    quote: list[str] = []

    def flush() -> None:
        if quote:
            html.append(f'<blockquote class="dsr-quote">{"<br>".join(quote)}</blockquote>')
            quote.clear()

    lines = text.split("\n")
    for index, line in enumerate(lines):
        for marker in (">", "&gt;"):
            if line.startswith(marker):
                quote.append(_line(line[len(marker) :].lstrip(" ")))
                break
        else:
            flush()
            html.append(_line(line) + ("<br>" if index < len(lines) - 1 else ""))
    flush()
    return "".join(html)


def render_mrkdwn(text: str) -> SafeString:
    """``text`` as Slack would show it, as safe HTML (everything from ``text`` escaped)."""
    text = str(text).replace("\r\n", "\n")
    out, last = [], 0
    for match in _CODE_BLOCK.finditer(text):
        out.append(_paragraphs(text[last : match.start()]))
        code = escape(unescape_slack(match.group(1).strip("\n")))
        out.append(f'<pre class="dsr-pre">{code}</pre>')
        last = match.end()
    out.append(_paragraphs(text[last:]))
    return mark_safe("".join(out))  # every piece of the input was escaped above


def render_plain_text(text: str, *, emoji: bool = True) -> SafeString:
    """A ``plain_text`` object's text: escaped, emoji shortcodes shown when ``emoji``."""
    html = escape(unescape_slack(str(text))).replace("\n", "<br>")
    return mark_safe(emojize(html) if emoji else html)  # escaped above
