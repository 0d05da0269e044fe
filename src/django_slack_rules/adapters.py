"""Reading a host's alert object.

The package never assumes a host's models. An adapter class, named by
``SLACK_RULES["ADAPTER"]``, tells it how to read one alert: its labels, status,
silence, latest occurrence, and the template context. The default,
:class:`AlertGroupAdapter`, reads SentryHub's ``AlertGroup``; another host
subclasses it (or :class:`BaseAlertAdapter`) and overrides what differs.

Actions from Slack use four more methods, each optional: ``acknowledge(alert, user,
comment=None)``, ``silence(alert, user, until, comment=None)``, ``get_url(alert)`` and
``can(user, action, alert)``. An adapter without one offers no such button
(:mod:`django_slack_rules.services.actions.offer`); :class:`AlertGroupAdapter` has them, doing what
SentryHub's own pages do (:mod:`django_slack_rules.sentryhub_actions`).
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Final, Generic, Literal, TypeVar, Union, cast

from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured, ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .conf import slack_rules_settings
from .matching.labels import normalize_labels
from .models import STATUS_FIRING, STATUS_RESOLVED, SlackIntegrationRule
from .rendering.context import build_context
from .sentryhub_actions import SentryHubActions
from .typing import HostAlert, Id, TemplateContext

if TYPE_CHECKING:
    from django.utils.functional import _StrPromise as StrPromise


class _Missing(enum.Enum):
    """A value that was not read (an enum member, so ``is`` narrows it away)."""

    NOT_LOADED = "not loaded"


#: What :meth:`BaseAlertAdapter.load` returns for an occurrence it did not read.
NOT_LOADED: Final = _Missing.NOT_LOADED

#: The host's alert object (SentryHub: an ``AlertGroup``). The package reads its ``pk``
#: (:func:`alert_id`) and hands it back to the adapter for the rest, so an adapter names its
#: own type: ``class MyAdapter(BaseAlertAdapter[Alert])``.
AlertT = TypeVar("AlertT")
#: An occurrence of an alert (SentryHub: an ``AlertInstance``), or None; only the adapter
#: reads one.
Occurrence = object
#: An occurrence as :meth:`BaseAlertAdapter.load` gives it: read, or ``NOT_LOADED``.
MaybeLoaded = Union[Occurrence, Literal[_Missing.NOT_LOADED]]


def alert_id(alert: HostAlert) -> Id:
    """``alert``'s primary key as the queue and the delivery records carry it: an int, else
    its str (a UUID key travels as a string: only JSON-safe values cross the queue)."""
    pk = alert.pk
    return pk if isinstance(pk, int) else str(pk)


def get_adapter() -> BaseAlertAdapter[HostAlert]:
    """A new instance of the adapter class named by ``SLACK_RULES["ADAPTER"]``."""
    return slack_rules_settings.import_setting("ADAPTER")()


class BaseAlertAdapter(Generic[AlertT]):
    """What the package needs to know about an alert. Override every method."""

    def get_alert(self, alert_id: Id) -> AlertT:
        """Load the alert by id; raise ``ObjectDoesNotExist`` when it is gone."""
        model = slack_rules_settings.get_alert_model()
        # The model named by ALERT_MODEL is the adapter's alert type.
        return cast(AlertT, model._default_manager.get(pk=alert_id))

    def load(self, alert_id: Id, occurrence_key: str | None) -> tuple[AlertT, MaybeLoaded]:
        """The alert, and its occurrence if read in the same query (else ``NOT_LOADED``).

        Raises ``ObjectDoesNotExist`` when the alert is gone. The task calls it once per
        notification; the default reads the alert only (:meth:`load_occurrence` follows).
        """
        return self.get_alert(alert_id), NOT_LOADED

    def get_labels(self, alert: AlertT) -> dict[str, str]:
        raise NotImplementedError

    def get_status(self, alert: AlertT) -> str:
        """``"firing"`` or ``"resolved"``."""
        raise NotImplementedError

    def is_silenced(self, alert: AlertT) -> bool:
        return False

    def get_fingerprint(self, alert: AlertT) -> str:
        return str(getattr(alert, "fingerprint", "") or "")

    def get_occurrence(self, alert: AlertT, instance: Occurrence = None) -> Occurrence:
        """The occurrence being notified (SentryHub: an AlertInstance), or None."""
        return instance

    def get_occurrence_key(self, alert: AlertT, instance: Occurrence = None) -> str:
        """Identifies the occurrence, so a new firing notifies again and a repeat does not."""
        occurrence = self.get_occurrence(alert, instance)
        return "" if occurrence is None else str(getattr(occurrence, "pk", occurrence))

    def load_occurrence(self, alert: AlertT, key: str | None) -> Occurrence:
        """The occurrence named by ``key`` (from :meth:`get_occurrence_key`), or None."""
        return None

    def get_context(
        self, alert: AlertT, *, rule: SlackIntegrationRule, status: str, instance: Occurrence = None
    ) -> TemplateContext:
        """The template context: plain data only, every string from the alert escaped."""
        raise NotImplementedError


def _text(value: object) -> str:
    return "" if value is None else str(value)


__all__ = ["CONTEXT_KEYS", "AlertGroupAdapter", "BaseAlertAdapter", "build_context", "get_adapter"]


class AlertGroupAdapter(SentryHubActions, BaseAlertAdapter[models.Model]):
    """Reads SentryHub's ``AlertGroup`` (and its ``instances``, the AlertInstance rows), and
    acknowledges and silences it as SentryHub does (:class:`SentryHubActions`)."""

    #: Related name of the occurrences on the alert.
    instances_attribute = "instances"

    def get_labels(self, alert: models.Model) -> dict[str, str]:
        return normalize_labels(getattr(alert, "labels", None))

    def get_status(self, alert: models.Model) -> str:
        status = _text(getattr(alert, "current_status", "")).lower()
        return STATUS_RESOLVED if status == STATUS_RESOLVED else STATUS_FIRING

    def is_silenced(self, alert: models.Model) -> bool:
        """``is_silenced``, unless ``silenced_until`` has passed: SentryHub re-checks its
        silences only when a silence rule changes, so an ended one may still be flagged."""
        if not getattr(alert, "is_silenced", False):
            return False
        until = getattr(alert, "silenced_until", None)
        return until is None or until > timezone.now()

    def get_occurrence(self, alert: models.Model, instance: Occurrence = None) -> Occurrence:
        if instance is not None:
            return instance
        manager = getattr(alert, self.instances_attribute, None)
        if manager is None:
            return None
        return manager.order_by("-started_at", "-pk").first()

    def load(self, alert_id: Id, occurrence_key: str | None) -> tuple[models.Model, MaybeLoaded]:
        """The occurrence and its alert in one query (``select_related``), when the
        occurrence is still there; else as :meth:`BaseAlertAdapter.load` does."""
        relation = self._occurrences_relation()
        if occurrence_key and relation is not None:
            link = relation.field  # the occurrence's foreign key to the alert
            try:
                occurrence = (
                    link.model._default_manager.select_related(link.name)
                    .filter(pk=occurrence_key, **{link.attname: alert_id})
                    .first()
                )
            except (ValueError, TypeError, ValidationError):
                occurrence = None
            if occurrence is not None:
                return getattr(occurrence, link.name), occurrence
        return super().load(alert_id, occurrence_key)

    def _occurrences_relation(self) -> models.ManyToOneRel | None:
        """The alert model's reverse foreign key named ``instances_attribute``, if it is one."""
        try:
            relation = slack_rules_settings.get_alert_model()._meta.get_field(
                self.instances_attribute
            )
        except (FieldDoesNotExist, ImproperlyConfigured):
            return None
        return relation if isinstance(relation, models.ManyToOneRel) else None

    def load_occurrence(self, alert: models.Model, key: str | None) -> Occurrence:
        manager = getattr(alert, self.instances_attribute, None)
        if not key or manager is None:
            return None
        try:
            return manager.filter(pk=key).first()
        except (ValueError, TypeError, ValidationError):
            return None

    def get_context(
        self,
        alert: models.Model,
        *,
        rule: SlackIntegrationRule,
        status: str,
        instance: Occurrence = None,
    ) -> TemplateContext:
        occurrence = self.get_occurrence(alert, instance)
        return build_context(
            labels=self.get_labels(alert),
            annotations=getattr(occurrence, "annotations", None),
            status=status,
            rule=rule,
            name=getattr(alert, "name", ""),
            fingerprint=self.get_fingerprint(alert),
            severity=getattr(alert, "severity", ""),
            source=getattr(alert, "source", ""),
            instance=getattr(alert, "instance", ""),
            started_at=getattr(occurrence, "started_at", None),
            ended_at=getattr(occurrence, "ended_at", None),
            occurrence_status=getattr(occurrence, "status", ""),
            is_silenced=self.is_silenced(alert),
            alert_group=model_to_plain_dict(alert),
        )


#: The keys of the template context, and what each holds (shown beside the rule form;
#: lazy, so it is in the language of the request).
CONTEXT_KEYS: dict[str, StrPromise] = {
    "labels": _("the alert's labels (dict), e.g. {{ labels.team }}"),
    "annotations": _("the latest occurrence's annotations (dict)"),
    "status": _('"firing" or "resolved"'),
    "alertname": _("the alertname label, else the alert's name"),
    "summary": _("annotations.summary, or empty"),
    "description": _("annotations.description, or empty"),
    "fingerprint": _("the alert's fingerprint"),
    "severity": _("the alert's severity (else its severity label)"),
    "source": _("where the alert came from"),
    "instance": _("the alert's instance (else its instance label)"),
    "started_at": _("when the latest occurrence started (datetime or None)"),
    "ended_at": _("when it ended (datetime or None)"),
    "is_silenced": _("whether the alert is silenced"),
    "rule": _("the rule: {{ rule.name }}, {{ rule.channel }}, {{ rule.priority }}"),
    "alert_group": _("a dict mirror of the alert's fields, e.g. {{ alert_group.labels.job }}"),
    "latest_instance": _("the latest occurrence: annotations, started_at, ended_at, status"),
}


def model_to_plain_dict(obj: object) -> dict[str, object]:
    """A dict mirror of a model instance's concrete fields (foreign keys as ``<name>_id``).

    Values stay as they are; :func:`~django_slack_rules.rendering.to_plain_data`
    turns the whole context into plain, escaped data afterwards.
    """
    if not isinstance(obj, models.Model):
        return {}
    data = {field.attname: getattr(obj, field.attname) for field in obj._meta.concrete_fields}
    data["id"] = obj.pk
    return data
