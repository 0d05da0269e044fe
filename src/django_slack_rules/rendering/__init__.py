"""An alert's message, without the database: what a rule's templates render to.

- :mod:`.templates`: a rule's text templates, rendered against plain, Slack-escaped data;
  escaping, truncation, the fallback message;
- :mod:`.context`: an alert's template context (the keys docs/templates.md lists);
- :mod:`.blocks`: Block Kit: a blocks template rendered to JSON, checked and fitted;
- :mod:`.samples`: a sample alert a rule matches (the preview, the rule's validation);
- :mod:`.mrkdwn`: Slack's mrkdwn as HTML, for the preview.

``django_slack_rules.rendering.to_plain_data`` is what an adapter passes its context through
(docs/adapters.md).
"""

from __future__ import annotations

from .templates import to_plain_data

__all__ = ["to_plain_data"]
