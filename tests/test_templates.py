"""The default base template renders a complete page with the package's own stylesheet."""

from __future__ import annotations

from django.contrib.staticfiles import finders
from django.template import Context, Template


def test_pages_can_fill_either_block_name():
    for block in ("content", "main_content"):
        page = Template(
            '{% extends "django_slack_rules/base.html" %}{% block '
            + block
            + " %}HELLO{% endblock %}"
        ).render(Context())
        assert "HELLO" in page
        assert "/static/django_slack_rules/slack_rules.css" in page


def test_the_stylesheet_ships_with_the_app():
    assert finders.find("django_slack_rules/slack_rules.css")
