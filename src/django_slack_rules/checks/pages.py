"""W004, W006: the rule pages, when mounted, can render their forms (crispy-forms)."""

from __future__ import annotations

from django.conf import settings
from django.core import checks
from django.utils.translation import gettext

from .common import check_message


def check_pages() -> list[checks.CheckMessage]:
    """The rule pages render their forms with crispy-forms' Bootstrap 5 pack."""
    from django.apps import apps
    from django.urls import NoReverseMatch, reverse

    if not getattr(settings, "ROOT_URLCONF", None):
        return []  # no URLconf (a worker's settings): no pages to check
    try:
        reverse("django_slack_rules:rule-list")
    except NoReverseMatch:
        return []  # the pages are not mounted: nothing to check
    except Exception as exc:  # a check reports; it never raises into manage.py
        return [
            check_message(
                "W006",
                gettext(
                    "Could not look up the Slack rule pages in ROOT_URLCONF %(urlconf)r "
                    "(%(error)s), so their setup was not checked."
                )
                % {"urlconf": settings.ROOT_URLCONF, "error": f"{type(exc).__name__}: {exc}"},
                gettext(
                    'Fix the URLconf so that it imports (python -c "import <ROOT_URLCONF>" '
                    "shows the error), then run manage.py check again."
                ),
            )
        ]
    problems = [
        gettext("%(app)r is not in INSTALLED_APPS") % {"app": app}
        for app in ("crispy_forms", "crispy_bootstrap5")
        if not apps.is_installed(app)
    ]
    if not getattr(settings, "CRISPY_TEMPLATE_PACK", None):
        problems.append(gettext("CRISPY_TEMPLATE_PACK is not set"))
    if "bootstrap5" not in getattr(settings, "CRISPY_ALLOWED_TEMPLATE_PACKS", ()):
        problems.append(gettext("CRISPY_ALLOWED_TEMPLATE_PACKS does not include 'bootstrap5'"))
    if not problems:
        return []
    return [
        check_message(
            "W004",
            gettext(
                "The Slack rule pages (django_slack_rules.urls) cannot render their forms: "
                "%(problems)s."
            )
            % {"problems": "; ".join(problems)},
            gettext(
                'Add "crispy_forms" and "crispy_bootstrap5" to INSTALLED_APPS and set '
                'CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5" and CRISPY_TEMPLATE_PACK = '
                '"bootstrap5" (see docs/ui.md).'
            ),
        )
    ]
