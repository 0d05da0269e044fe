"""The settings reference (docs/settings.md) stays true to the code: every SLACK_RULES key
with its default, and every system check id."""

from __future__ import annotations

import re
from pathlib import Path

from django_slack_rules import checks
from django_slack_rules.conf import DEFAULTS

SETTINGS_DOC = (Path(__file__).resolve().parent.parent / "docs" / "settings.md").read_text()


def documented_rows() -> dict[str, str]:
    """The settings table: key -> its default column."""
    rows = {}
    for line in SETTINGS_DOC.splitlines():
        match = re.match(r"\| `([A-Z_]+)` \| (.+?) \|", line)
        if match:
            rows[match[1]] = match[2]
    return rows


def test_every_setting_is_documented_with_its_default():
    rows = documented_rows()
    assert set(DEFAULTS) <= set(rows), f"undocumented: {sorted(set(DEFAULTS) - set(rows))}"
    for key, default in DEFAULTS.items():
        shown = rows[key].strip("`")
        assert shown in (repr(default), str(default), f'"{default}"'), (key, shown, default)


def test_every_check_id_is_documented_and_nothing_else():
    in_code = set(re.findall(r"^([EW]\d{3})\s", checks.__doc__ or "", re.MULTILINE))
    package = Path(checks.__file__).parent
    sources = "".join(module.read_text() for module in sorted(package.glob("*.py")))
    raised = set(re.findall(r'"([EW]\d{3})"', sources))
    assert in_code == raised, "the checks package's docstring lists every id it raises"
    in_docs = set(re.findall(r"django_slack_rules\.([EW]\d{3})", SETTINGS_DOC))
    assert in_docs == in_code
