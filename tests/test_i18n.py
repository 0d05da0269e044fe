"""Translations: the pages in German, English as the default, and a catalog that is complete.

The German catalog (``locale/de``) proves the package is translatable end to end; the
template test keeps new English text from slipping into a page outside a translation tag,
and the extraction test (GNU gettext's xgettext, through makemessages) keeps a new string
of the code or templates from shipping without its German translation.
"""

from __future__ import annotations

import ast
import gettext
import json
import re
import shutil
from pathlib import Path

import pytest
from django.contrib.messages import get_messages
from django.core import checks
from django.core.management import call_command
from django.utils import translation

import django_slack_rules
from django_slack_rules.checks import check_settings
from django_slack_rules.models import DeliveryState, SlackDelivery
from tests.factories import RuleFactory
from tests.utils import url

PACKAGE = Path(django_slack_rules.__file__).resolve().parent
TEMPLATES = PACKAGE / "templates" / "django_slack_rules"
CATALOG = PACKAGE / "locale" / "de" / "LC_MESSAGES"


@pytest.fixture
def german():
    with translation.override("de"):
        yield


def failed_delivery(rule, **fields):
    return SlackDelivery.objects.create(
        rule=rule,
        rule_name=rule.name,
        alert_id="1",
        alert_status="firing",
        idempotency_key=f"key-{rule.pk}",
        channel="#db",
        state=DeliveryState.FAILED,
        text="HighCPU on web-1",
        attempts=3,
        slack_error="channel_not_found",
        **fields,
    )


# -- the pages in German --------------------------------------------------------------


@pytest.mark.django_db
def test_the_rule_list_in_german(admin_client, german):
    rule = RuleFactory(name="db", priority=5, match_criteria={})
    failed_delivery(rule)
    content = admin_client.get(url("rule-list")).content.decode()
    assert '<html lang="de">' in content
    assert "<title>Slack-Regeln</title>" in content
    assert '<h1 class="h3 mb-0">Slack-Regeln</h1>' in content
    assert ">Neue Regel</a>" in content
    assert '<a href="?ordering=-priority">Priorität' in content
    assert '<th scope="col">Letzte Zustellung</th>' in content
    assert ">Regeltester</a>" in content
    assert ">Zustellprotokoll</a>" in content
    assert '<span class="badge text-bg-success">Aktiv</span>' in content
    assert "jeder Alert" in content
    assert ">fehlgeschlagen</span>" in content  # the state's label, not its value
    assert 'aria-label="Regel db bearbeiten">Bearbeiten</a>' in content
    assert "Probieren Sie es im <a" in content


@pytest.mark.django_db
def test_an_empty_rule_list_in_german(admin_client, german):
    content = admin_client.get(url("rule-list")).content.decode()
    assert "Noch keine Slack-Regeln" in content
    assert "Erste Regel anlegen" in content


@pytest.mark.django_db
def test_the_rule_form_with_a_json_error_in_german(admin_client, german):
    response = admin_client.post(
        url("rule-create"),
        {
            "name": "db",
            "priority": "0",
            "match_criteria": '{"team": db}',
            "slack_channel": "#DB Alerts",
            "message_template": "{{ alertname }",
        },
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert "<title>Neue Slack-Regel · Slack-Regeln</title>" in content
    assert "Bitte korrigieren Sie die Fehler unten; es wurde nichts gespeichert." in content
    errors = response.context["form"].errors
    assert errors["match_criteria"][0].startswith("Das ist kein gültiges JSON: ")
    assert "in Zeile 1, Spalte 10 (markiert mit ⟶)" in errors["match_criteria"][0]
    assert errors["slack_channel"][0].startswith("'#DB Alerts' ist kein Slack-Kanal.")
    assert ">Speichern und Vorschau</button>" in content
    assert ">Vorlagenkontext</div>" in content
    assert "die Labels des Alerts (dict)" in content  # the context keys' meanings
    assert "Kontext: labels, annotations" not in content  # listed once, beside the form


@pytest.mark.django_db
def test_the_preview_in_german(admin_client, german):
    rule = RuleFactory(name="db", match_criteria={"team": "db"}, priority=1)
    content = admin_client.post(
        url("rule-preview", rule.pk),
        {
            "labels": json.dumps({"team": "web", "alertname": "HighCPU"}),
            "annotations": "{}",
            "status": "firing",
            "preview": "1",
        },
    ).content.decode()
    assert "<title>Vorschau: db · Slack-Regeln</title>" in content
    assert ">Beispiel-Alert</div>" in content
    assert ">Testversand</button>" in content
    assert "Was Slack erhalten würde" in content
    assert "Diese Labels passen nicht zur Regel: " in content
    assert "<code>team</code> muss <code>db</code> sein (ist <code>web</code>)" in content
    assert "Zeichen · Vorlage für firing" in content
    assert "firing (ausgelöst)" in content  # the status choice


@pytest.mark.django_db
def test_the_match_tester_in_german(admin_client, german):
    RuleFactory(name="catch-all", priority=0, match_criteria={})
    RuleFactory(name="db", priority=10, match_criteria={"team": "db"})
    RuleFactory(name="web", priority=10, match_criteria={"team": "web"})
    content = admin_client.get(url("rule-match"), {"labels": '{"team": "db"}'}).content.decode()
    assert ">Alert testen</div>" in content
    assert ">Regel finden</button>" in content
    assert "Regel <strong>db</strong> gewinnt" in content
    assert "Passende Regeln, in Reihenfolge" in content
    assert "Unterliegt db: niedrigere Priorität." in content
    assert "Regeln, die nicht passen (1)" in content
    assert "<code>team</code> muss <code>web</code> sein (ist <code>db</code>)" in content
    response = admin_client.get(url("rule-match"), {"labels": '{"team": }'})
    assert response.context["form"].errors["labels"][0].startswith("Das ist kein gültiges JSON")


@pytest.mark.django_db
def test_the_delivery_log_in_german(admin_client, german):
    delivery = failed_delivery(RuleFactory(name="db"))
    content = admin_client.get(url("delivery-list")).content.decode()
    assert "<title>Zustellprotokoll · Slack-Regeln</title>" in content
    assert '<th scope="col">Nachricht und Ergebnis</th>' in content
    assert ">fehlgeschlagen</span>" in content
    assert "3 Versuche" in content
    assert "Prüfen Sie den Kanalnamen" in content  # the hint for channel_not_found
    assert f'aria-label="Zustellung {delivery.pk} erneut senden">Erneut senden</button>' in (
        content
    )
    response = admin_client.post(url("delivery-resend"), {"delivery": [delivery.pk]})
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "1 Zustellung erneut eingereiht."
    ]
    empty = admin_client.get(url("delivery-list"), {"state": "sent"}).content.decode()
    assert "Keine Zustellungen passen zu diesen Filtern" in empty


@pytest.mark.django_db
def test_language_code_de_without_override(admin_client, settings):
    # A host with LANGUAGE_CODE = "de" and no LocaleMiddleware gets the German pages.
    settings.LANGUAGE_CODE = "de"
    content = admin_client.get(url("rule-list")).content.decode()
    assert "Noch keine Slack-Regeln" in content


def test_checks_speak_german_and_keep_their_ids(settings, german):
    settings.SLACK_RULES = {**settings.SLACK_RULES, "DEFAULT_CHANNEL": "alerts"}
    [error] = [m for m in check_settings() if m.id == "django_slack_rules.E010"]
    assert isinstance(error, checks.Error)
    assert error.msg == "SLACK_RULES[\"DEFAULT_CHANNEL\"] = 'alerts' ist kein Slack-Kanal."
    assert error.hint == "Verwenden Sie '#name' oder eine Kanal-ID wie 'C0123ABCDEF'."


# -- English stays the default --------------------------------------------------------


@pytest.mark.django_db
def test_english_is_the_default(admin_client):
    rule = RuleFactory(name="db", match_criteria={"team": "db"})
    failed_delivery(rule)
    pages = [
        (url("rule-list"), ["Slack rules", "New rule", "Last delivery", ">failed</span>"]),
        (url("rule-preview", rule.pk), ["Sample alert", "Test send", "What Slack would get"]),
        (url("rule-match"), ["Test an alert", "Find the rule"]),
        (url("delivery-list"), ["Message and outcome", "3 attempts", "Check the channel name"]),
    ]
    for target, expected in pages:
        content = admin_client.get(target).content.decode()
        assert '<html lang="en-us">' in content
        for text in expected:
            assert text in content, (target, text)
        assert "Regel" not in content, target


# -- no visible English outside translation tags --------------------------------------

_NOT_TEXT = [
    re.compile(r"{%\s*comment\s*%}.*?{%\s*endcomment\s*%}", re.S),
    re.compile(r"{#.*?#}", re.S),
    re.compile(r"{%\s*blocktranslate\b.*?{%\s*endblocktranslate\s*%}", re.S),
    re.compile(r"{%.*?%}|{{.*?}}", re.S),  # other tags ({% translate %} too) and variables
]
#: Attributes whose values people read (or hear, with a screen reader).
_READ_ATTRIBUTES = re.compile(r'\b(?:aria-label|title|placeholder|alt)="([^"]*)"')
_MARKUP = re.compile(r"<!DOCTYPE[^>]*>|<[^>]*>|&[a-z]+;")
_WORD = re.compile(r"\S*[^\W\d_]\S*")  # anything with a letter in it


def visible_text(source: str) -> list[str]:
    """Words a template shows that are not inside a translation tag (a heuristic)."""
    for pattern in _NOT_TEXT:
        source = pattern.sub(" ", source)
    attributes = _READ_ATTRIBUTES.findall(source)
    return _WORD.findall(" ".join([_MARKUP.sub(" ", source), *attributes]))


def test_the_heuristic_finds_untranslated_text():
    assert visible_text('<p class="x">Hello {{ name }}</p>') == ["Hello"]
    assert visible_text('<a aria-label="Edit {{ name }}">{% translate "Edit" %}</a>') == ["Edit"]
    assert (
        visible_text("<b>{% blocktranslate %}Hi {{ x }}{% endblocktranslate %}</b> \u2039 · \u203a")
        == []
    )


@pytest.mark.parametrize("template", sorted(TEMPLATES.glob("*.html")), ids=lambda p: p.name)
def test_templates_show_no_text_outside_translation_tags(template):
    assert visible_text(template.read_text(encoding="utf-8")) == []


# -- the catalog ----------------------------------------------------------------------


def read_po(path: Path) -> tuple[dict, list[str]]:
    """The entries of a .po file as GNUTranslations keys them, and the flags of each entry."""
    entries: dict = {}
    flags: list[str] = []
    for block in path.read_text(encoding="utf-8").strip().split("\n\n"):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if line.startswith("#,"):
                flags.append(line)
            elif line.startswith("#"):
                continue
            elif line.startswith('"'):
                fields[key] += ast.literal_eval(line)
            else:
                key, _, value = line.partition(" ")
                fields[key] = ast.literal_eval(value)
        msgid = fields["msgid"]
        if "msgctxt" in fields:
            msgid = f"{fields['msgctxt']}\x04{msgid}"
        if "msgid_plural" in fields:
            for name, value in fields.items():
                if name.startswith("msgstr["):
                    entries[(msgid, int(name[7:-1]))] = value
        else:
            entries[msgid] = fields["msgstr"]
    return entries, flags


def test_the_german_catalog_is_complete_and_compiled():
    entries, flags = read_po(CATALOG / "django.po")
    assert not [flag for flag in flags if "fuzzy" in flag]
    assert len(entries) > 250
    header = entries.pop("")
    assert "Language: de\n" in header
    assert "Plural-Forms: nplurals=2; plural=(n != 1);" in header
    assert [key for key, value in entries.items() if not value] == []
    with open(CATALOG / "django.mo", "rb") as mo:
        compiled = dict(gettext.GNUTranslations(mo)._catalog)  # type: ignore[attr-defined]
    compiled.pop("")  # msgfmt leaves POT-Creation-Date out of the compiled header
    assert compiled == entries, "django.mo does not match django.po: run compilemessages"


#: What ``makemessages`` runs (GNU gettext); Django's catalogs need nothing at run time.
GETTEXT_TOOLS = ("xgettext", "msguniq", "msgmerge", "msgattrib")
FIX_MISSING = (
    "Run `django-admin makemessages -l de --no-obsolete` in src/django_slack_rules/ (with "
    "DJANGO_SETTINGS_MODULE=tests.settings and the checkout on PYTHONPATH), translate the "
    "new and fuzzy entries of locale/de/LC_MESSAGES/django.po, then run "
    "`django-admin compilemessages` there and commit both files (docs/ui.md, Translations)."
)


def untranslated(extracted: dict, shipped: dict) -> list[str]:
    """The msgids of ``extracted`` (keyed as :func:`read_po` keys them) that ``shipped``
    lacks or leaves empty, once each; a plural needs every form of ``shipped`` filled."""
    missing: dict[str, None] = {}
    for key in extracted:
        msgid = key[0] if isinstance(key, tuple) else key
        if not msgid:
            continue  # the header
        if isinstance(key, tuple):
            forms = [
                value
                for other, value in shipped.items()
                if isinstance(other, tuple) and other[0] == msgid
            ]
            translated = len(forms) >= 2 and all(forms)
        else:
            translated = bool(shipped.get(msgid))
        if not translated:
            missing[msgid.replace("\x04", " | ")] = None  # msgctxt | msgid
    return list(missing)


def test_untranslated_finds_missing_and_empty_entries():
    shipped = {"Yes": "Ja", "Empty": "", ("%(n)s rule", 0): "%(n)s Regel", ("%(n)s rule", 1): ""}
    extracted = {
        "": "header",
        "Yes": "",
        "Empty": "",
        "New": "",
        ("%(n)s rule", 0): "",
        ("%(n)s rule", 1): "",
        "badge\x04test": "",
    }
    assert untranslated(extracted, shipped) == ["Empty", "New", "%(n)s rule", "badge | test"]


def test_every_string_of_the_package_is_in_the_german_catalog(tmp_path, monkeypatch):
    # makemessages on a copy of the package with no catalog yet: the .po it writes lists
    # every translatable string the code and templates have now, each untranslated.
    absent = [tool for tool in GETTEXT_TOOLS if shutil.which(tool) is None]
    if absent:
        pytest.fail(
            f"GNU gettext is not installed ({', '.join(absent)} not on PATH), so this test "
            "cannot extract the package's strings: install it (Debian: apt-get install "
            "gettext; .ci/run does) and run the test again.",
            pytrace=False,
        )
    copy = tmp_path / "django_slack_rules"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("locale", "__pycache__"))
    (copy / "locale").mkdir()
    monkeypatch.chdir(copy)
    call_command("makemessages", locale=["de"], verbosity=0)
    extracted, _ = read_po(copy / "locale" / "de" / "LC_MESSAGES" / "django.po")
    assert len(extracted) > 250  # the extraction found the package's strings
    shipped, _ = read_po(CATALOG / "django.po")
    missing = untranslated(extracted, shipped)
    assert not missing, (
        f"{len(missing)} translatable string(s) of the package have no German translation "
        f"in locale/de/LC_MESSAGES/django.po:\n"
        + "\n".join(f"  {msgid!r}" for msgid in missing)
        + f"\n{FIX_MISSING}"
    )
