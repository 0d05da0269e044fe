"""The package's own stylesheets parse: every rule is closed, every declaration valid.

A browser drops what it cannot parse without a word: one unclosed brace swallowed the
matcher chips' tints and the busy-channels table's padding, and no page test saw it.
tinycss2 parses the sheet as a browser does and names what it would drop.
"""

from __future__ import annotations

from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parent.parent / "src" / "django_slack_rules" / "static"
OWN_STYLESHEETS = sorted(p for p in STATIC.rglob("*.css") if "vendor" not in p.parts)


def problems(css: str) -> list[str]:
    """What a browser would drop from ``css``: parse errors, and declarations that are not
    declarations (a rule nested in another's block because a brace was never closed)."""
    import tinycss2  # a test dependency of the test envs (tox.ini), not of package or lint

    found = []
    for rule in tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True):
        if rule.type == "error":
            found.append(f"line {rule.source_line}: {rule.message}")
            continue
        if rule.type != "qualified-rule":  # @media and the like: none in our sheets yet
            found.append(f"line {rule.source_line}: unexpected {rule.type}")
            continue
        selector = tinycss2.serialize(rule.prelude).strip()
        for item in tinycss2.parse_declaration_list(
            rule.content, skip_comments=True, skip_whitespace=True
        ):
            if item.type != "declaration":
                found.append(
                    f"line {item.source_line}, in {selector} {{…}}: {getattr(item, 'message', '')}"
                )
    return found


def test_there_is_a_stylesheet_to_check():
    assert [p.name for p in OWN_STYLESHEETS] == ["slack_rules.css"]


@pytest.mark.parametrize("path", OWN_STYLESHEETS, ids=lambda p: p.name)
def test_every_rule_of_the_stylesheet_parses(path):
    assert problems(path.read_text()) == []


def test_an_unclosed_brace_is_caught():
    broken = ".dsr-followup {\n  background: #fbfbfd;\n\n.dsr-pair.dsr-op-ne { color: red; }\n"
    [problem] = problems(broken)
    assert problem.startswith("line 4, in .dsr-followup {…}: ")
