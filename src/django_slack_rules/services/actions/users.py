"""Who clicked: the Slack user mapped to a host user.

In this order: a :class:`~django_slack_rules.models.SlackUserLink` that names a user (an
admin may set or change it); else the host's resolver (``SLACK_RULES["USER_RESOLVER"]``,
a callable given the Slack user as a dict); else the email address Slack has for the
user (``users.info`` through the gateway; it needs the ``users:read.email`` scope),
which must belong to exactly one host user. What the email finds is remembered as a
link; a Slack user it does not find gets a link without a user, for an admin to fill in.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import IntegrityError, router, transaction
from django.utils import timezone
from django.utils.translation import gettext

from ...conf import slack_rules_settings
from ...exceptions import SlackPermanentError
from ...models import SlackAction, SlackUserLink
from ..slack_service import SlackService

#: Where an admin links a Slack user to a host user, for the answers in Slack.
ADMIN_PATH = "Django admin → Slack rules → Slack user links"


@dataclass
class Mapped:
    """The host user a Slack user is, or why none (``reason``, for the answer in Slack)."""

    user: object = None  # the host's user (AUTH_USER_MODEL), or None
    reason: str = ""


def slack_user(action: SlackAction) -> dict[str, str]:
    """What the click says about its user, as the resolver gets it."""
    return {
        "id": action.slack_user_id,
        "team_id": action.slack_team_id,
        "username": action.slack_user_name,
    }


def host_user(action: SlackAction, host_name: str) -> Mapped:
    """The host user who clicked ``action``. Raises ``SlackRetryableError`` when Slack (or
    the gateway) could not be asked now."""
    link = (
        SlackUserLink.objects.filter(slack_user_id=action.slack_user_id)
        .select_related("user")
        .first()
    )
    if link is not None and link.user_id is not None:
        return Mapped(link.user)
    resolver = slack_rules_settings.import_setting("USER_RESOLVER")
    if resolver is not None:
        user = resolver(slack_user(action))
        if user is None:
            return Mapped(
                reason=gettext(
                    '%(host)s\'s resolver (SLACK_RULES["USER_RESOLVER"]) knows no user for '
                    "your Slack account. Fix: ask an admin to link you (%(admin)s)."
                )
                % {"host": host_name, "admin": ADMIN_PATH}
            )
        remember(action, user, SlackUserLink.Source.RESOLVER)
        return Mapped(user)
    return by_email(action, host_name)


def by_email(action: SlackAction, host_name: str) -> Mapped:
    """The one host user with the email Slack has for the clicker (``users.info``)."""
    try:
        info = SlackService().user_info(action.slack_user_id)
    except SlackPermanentError as exc:
        return Mapped(
            reason=gettext(
                "Slack did not say who you are (users.info: %(error)s). Fix: give the Slack "
                "app the users:read and users:read.email scopes and let the gateway relay "
                "users.info (docs/slack.md), or ask an admin to link you (%(admin)s)."
            )
            % {"error": exc.error or exc.message, "admin": ADMIN_PATH}
        )
    found = info.get("profile")
    profile: dict[str, object] = found if isinstance(found, dict) else {}
    email = str(profile.get("email") or "").strip()
    name = str(profile.get("real_name") or info.get("real_name") or info.get("name") or "")
    if not email:
        remember(action, None, SlackUserLink.Source.EMAIL, name=name)
        return Mapped(
            reason=gettext(
                "Slack gave no email address for you, so I cannot tell which %(host)s user you "
                "are. Fix: give the Slack app the users:read.email scope (docs/slack.md), or "
                "ask an admin to link you (%(admin)s)."
            )
            % {"host": host_name, "admin": ADMIN_PATH}
        )
    model = get_user_model()
    field = model.get_email_field_name()
    found = list(model._default_manager.filter(**{f"{field}__iexact": email})[:2])
    user = found[0] if len(found) == 1 else None
    remember(action, user, SlackUserLink.Source.EMAIL, email=email, name=name)
    if user is not None:
        return Mapped(user)
    if found:
        reason = gettext(
            "Several %(host)s users have your email address (%(email)s). Fix: ask an admin "
            "to link you to one of them (%(admin)s)."
        )
    else:
        reason = gettext(
            "No %(host)s user has your email address (%(email)s). Fix: use the same email "
            "address in %(host)s as in Slack, or ask an admin to link you (%(admin)s)."
        )
    return Mapped(reason=reason % {"host": host_name, "email": email, "admin": ADMIN_PATH})


def remember(
    action: SlackAction, user: object, source: object, *, email: str = "", name: str = ""
) -> None:
    """Keep what was found (or that nothing was) as the Slack user's link."""
    defaults: dict[str, object] = {
        "slack_team_id": action.slack_team_id,
        "slack_name": (name or action.slack_user_name)[:255],
        "user": user,
        "source": str(source),
    }
    if email:
        defaults["email"] = email[:254]
    # An UPDATE, else an INSERT, each on its own: no transaction that reads, then writes,
    # which SQLite refuses (``database is locked``) while another worker writes.
    links = SlackUserLink.objects.filter(slack_user_id=action.slack_user_id)
    if links.update(**defaults, updated_at=timezone.now()):
        return
    try:
        with transaction.atomic(using=router.db_for_write(SlackUserLink)):
            SlackUserLink.objects.create(slack_user_id=action.slack_user_id, **defaults)
    except IntegrityError:  # another click of the same user got there first
        links.update(**defaults, updated_at=timezone.now())
