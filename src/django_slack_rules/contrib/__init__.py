"""What exists for one host or one alert source only, apart from the core.

- ``contrib/sentryhub``: importing SentryHub's in-tree Slack rules.
- ``contrib/alertmanager``: planning rules from an Alertmanager configuration.
"""
