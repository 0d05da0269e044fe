"""Acting on an alert from its Slack message: which buttons, the click, and what it does.

One module per step of a click's life:

- :mod:`.offer`: which actions a rule's message offers here (the rule, the adapter, the
  gateway), and the blocks it is sent with (the buttons themselves are
  :mod:`django_slack_rules.buttons`, pure);
- :mod:`.signature`: Slack's request signature, checked against the signing secret;
- :mod:`.intake`: a verified click recorded as a pending action (the view's whole work
  before it answers);
- :mod:`.users`: the Slack user mapped to a host user;
- :mod:`.perform`: a pending action done once (the host's adapter), and :mod:`.notice`:
  Slack told how it ended.

The Celery task that runs a click, and the recovery of clicks no task took, are in
:mod:`django_slack_rules.action_tasks`; the view is :mod:`django_slack_rules.views.actions`.
This package's ``__init__`` imports nothing, so each layer takes only the module it needs.
"""
