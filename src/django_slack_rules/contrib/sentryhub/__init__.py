"""SentryHub, the package's first host: importing its in-tree Slack rules."""
