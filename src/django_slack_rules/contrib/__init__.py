"""What exists for one host only, apart from the core (``contrib/sentryhub``: SentryHub)."""
