"""Rule-based Slack notifications for Django alert apps."""

__version__ = "0.1.0.dev0"
