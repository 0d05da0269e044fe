"""Conversations in Slack: a resolution in the firing message's thread, the original updated.

The firing message of an alert is the first message of a conversation. A rule's
``resolve_action`` makes the resolution a thread reply under it, an update of it
(``chat.update``), or both; ``refire_in_thread`` makes a new firing of an open alert a
reply too. Such a delivery points at the first message's delivery (``parent``), whose
Slack ``message_ts`` and ``channel_id`` were recorded from ``chat.postMessage``'s
answer, so this works across workers, restarts and hosts sharing the database.

Each Slack call is one delivery record, claimed before it is sent (see
:mod:`~django_slack_rules.services.delivery`), so it happens once. When the planned
call cannot be made, the delivery posts a new message instead and ``note`` says why:

- the gateway is in webhook mode (incoming webhooks cannot thread or update);
- no first message was recorded, it failed, or it was sent without Slack's ``ts``;
- it is still not sent after ``SLACK_RULES["THREAD_WAIT"]`` (until then the delivery waits);
- an update: the first message is older than ``SLACK_RULES["EDIT_WINDOW"]``, or Slack
  answers ``message_not_found`` / ``cant_update_message``. An update whose resolution
  is also a thread reply (``update_and_reply``) is then cancelled instead: the reply
  carries the news.

A first message folded into a digest in a storm was shown in Slack by the digest: its
replies and updates become replies in the digest's thread (bot mode), or new messages.

``first_message`` finds the first message a delivery answers, what it asks for, how long
it waits, and the update that goes with a reply; ``sending`` plans and makes the call.
"""

from __future__ import annotations

from .first_message import companion_update, find_parent, intended_action, parent_wait
from .sending import Plan, Skipped, plan, send

__all__ = [
    "Plan",
    "Skipped",
    "companion_update",
    "find_parent",
    "intended_action",
    "parent_wait",
    "plan",
    "send",
]
