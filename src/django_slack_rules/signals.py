"""Signals for the host.

``pre_send(sender, channel, message, delivery)``
    Sent before a message goes out. ``sender`` is the backend class, ``message``
    the final (truncated) text, ``delivery`` the :class:`SlackDelivery` record or
    None for a direct ``SlackService`` call. A receiver cancels the message by
    raising :class:`~django_slack_rules.exceptions.SlackSendCancelled`.

``post_send(sender, channel, message, delivery, result, error)``
    Sent after every attempt: ``result`` is the :class:`SlackResult` when Slack took
    the message, ``error`` the :class:`SlackDeliveryError` when it did not (one of
    the two is None). Use it to count metrics.

Both are sent robustly: every receiver runs, and an error a receiver raises is
logged with its name and changes nothing (a message Slack accepted stays sent;
a retryable failure is still retried). ``SlackSendCancelled`` from ``pre_send``
is the one deliberate way to stop a message.
"""

from django.dispatch import Signal

pre_send = Signal()
post_send = Signal()
