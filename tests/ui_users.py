"""Users with chosen permissions, for the rule pages' view and browser tests."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Permission, User

#: Every permission the rule pages check.
ALL_UI_PERMISSIONS = (
    "view_slackintegrationrule",
    "add_slackintegrationrule",
    "change_slackintegrationrule",
    "delete_slackintegrationrule",
    "view_slackdelivery",
    "change_slackdelivery",
)


def make_user(*codenames: str, username: str = "operator", password: str = "pw") -> Any:
    """A non-staff, non-superuser user holding exactly the django_slack_rules ``codenames``."""
    user = User.objects.create_user(username=username, password=password)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="django_slack_rules", codename__in=codenames
        )
    )
    return user
