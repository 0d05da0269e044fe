"""What a click does in SentryHub: the adapter methods of :class:`AlertGroupAdapter`.

SentryHub acknowledges an alert with its own service,
``alerts.services.alerts_processor.acknowledge_alert(alert_group, user, comment)``, which
sets the alert acknowledged and writes an ``AlertAcknowledgementHistory`` row; it silences
with a ``SilenceRule`` whose ``matchers`` are labels to match exactly, and its own
``post_save`` receiver then marks the matching alerts silenced. These methods use exactly
those, found under the alert model's app (``apps.get_model`` and a dotted path), so an
acknowledgement or a silence from Slack is one SentryHub shows like its own. A host
whose app lacks one gets no such button (:meth:`SentryHubActions.unavailable` says why).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Protocol

from django.apps import apps
from django.db import models
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext

from .buttons import ACKNOWLEDGE, OPEN, SILENCE
from .conf import slack_rules_settings
from .exceptions import SlackActionRefused, SlackRulesConfigurationError


class PermissionHolder(Protocol):
    """A user as :meth:`SentryHubActions.can` asks it: the host's user model, with
    ``has_perm()`` from Django's ``PermissionsMixin`` or its own."""

    def has_perm(self, perm: str, /) -> bool: ...


class SentryHubActions:
    """Acknowledge, silence, the alert's page and who may: as SentryHub's own pages do."""

    #: The function that acknowledges, under the alert model's app's module.
    acknowledge_function = "services.alerts_processor.acknowledge_alert"
    #: The model of a silence, in the alert model's app.
    silence_model = "SilenceRule"
    #: The URL name of an alert's page, and its keyword arguments: name → alert attribute.
    alert_url_name = "alerts:alert-detail"
    alert_url_kwargs: dict[str, str] = {"fingerprint": "fingerprint"}
    #: The host's name, on the "Open in …" button.
    host_name = "SentryHub"
    #: A permission ("app_label.codename") an action needs, beyond an active account. None
    #: by default: SentryHub's own pages let any logged-in user acknowledge and silence.
    action_permissions: dict[str, str] = {}

    # -- what the host has ------------------------------------------------------------

    def _app_module(self) -> tuple[str, str]:
        """The alert model's app: its label and its module (SentryHub: "alerts", "alerts")."""
        model = slack_rules_settings.get_alert_model()
        config = apps.get_app_config(model._meta.app_label)
        return config.label, config.name

    def _acknowledger(self) -> Callable[[models.Model, object, str | None], object]:
        _, module = self._app_module()
        return import_string(f"{module}.{self.acknowledge_function}")

    def _silence_rules(self) -> type[models.Model]:
        label, _ = self._app_module()
        return apps.get_model(label, self.silence_model)

    def unavailable(self, action: str) -> str:
        """Why this host cannot do ``action`` ("" when it can)."""
        try:
            label, module = self._app_module()
        except SlackRulesConfigurationError as exc:
            return str(exc)
        if action == ACKNOWLEDGE:
            try:
                self._acknowledger()
            except ImportError as exc:
                return gettext("%(path)s does not import (%(error)s)") % {
                    "path": f"{module}.{self.acknowledge_function}",
                    "error": exc,
                }
        elif action == SILENCE:
            try:
                self._silence_rules()
            except LookupError:
                return gettext("the app %(app)s has no model %(model)s") % {
                    "app": label,
                    "model": self.silence_model,
                }
        elif action == OPEN:
            return self._url_problem()
        return ""

    def _url_problem(self) -> str:
        if not slack_rules_settings.SITE_URL:
            return gettext(
                'SLACK_RULES["SITE_URL"] (or settings.SITE_URL) is not set, so there is no '
                "address to link to"
            )
        sample = dict.fromkeys(self.alert_url_kwargs, "x")
        try:
            reverse(self.alert_url_name, kwargs=sample)
        except NoReverseMatch:
            return gettext("the URL name %(name)r does not resolve in the host's URLconf") % {
                "name": self.alert_url_name
            }
        return ""

    # -- the four adapter methods -------------------------------------------------------

    def acknowledge(self, alert: models.Model, user: object, comment: str | None = None) -> None:
        """Acknowledge with the host's service, as its alert page does (again, for a new
        firing: SentryHub keeps one history row per acknowledgement)."""
        self._acknowledger()(alert, user, comment)

    def silence(
        self,
        alert: models.Model,
        user: object,
        until: datetime.datetime,
        comment: str | None = None,
    ) -> None:
        """A silence rule on exactly the alert's labels, from now until ``until``."""
        labels = getattr(alert, "labels", None)
        if not isinstance(labels, dict) or not labels:
            raise SlackActionRefused(
                gettext(
                    "The alert has no labels, so a silence of it would silence every alert; "
                    "silence it in the host instead."
                )
            )
        self._silence_rules()._default_manager.create(
            matchers=dict(labels),
            starts_at=timezone.now(),
            ends_at=until,
            created_by=user,
            comment=comment or gettext("Silenced from Slack."),
        )

    def get_url(self, alert: models.Model) -> str | None:
        """The alert's page: ``SITE_URL`` and the host's URL of it; None without either."""
        site = slack_rules_settings.SITE_URL.rstrip("/")
        if not site:
            return None
        kwargs = {name: getattr(alert, attr, "") for name, attr in self.alert_url_kwargs.items()}
        try:
            return site + reverse(self.alert_url_name, kwargs=kwargs)
        except NoReverseMatch:
            return None

    def can(self, user: PermissionHolder, action: str, alert: models.Model) -> bool:
        """An active account, and the action's permission when one is named."""
        if not getattr(user, "is_active", False):
            return False
        permission = self.action_permissions.get(action)
        return permission is None or bool(user.has_perm(permission))

    def cannot_reason(self, user: object, action: str) -> str:
        """Why ``user`` may not (for the answer in Slack)."""
        if not getattr(user, "is_active", False):
            return gettext("the account is inactive")
        permission = self.action_permissions.get(action)
        return gettext("it lacks the permission %(permission)s") % {"permission": permission}
