"""Which rules get an alert: everything about matching that needs no database.

Read it in this order:

- :mod:`.labels`: an alert's labels as matching compares them (``str`` → ``str``);
- :mod:`.matchers`: the Alertmanager matcher language (parsing, semantics, the fan-out
  written plainly), public as :mod:`django_slack_rules.matchers`;
- :mod:`.compiled`: a rule's criteria compiled for matching (:class:`~.compiled.CompiledRule`);
- :mod:`.index`: the compiled rules filed for fast matching, updated rule by rule;
- :mod:`.explain`: why a rule matches or not, matcher by matcher (the match tester);
- :mod:`.criteria_text`: a rule's criteria as the rule form's text box shows them.

The per-process index kept at the rule set's version, against the database, is
:class:`django_slack_rules.services.slack_matcher.SlackRuleMatcherService`: it sits above the
models, which validate a rule's criteria with this package, so it cannot live in it.
"""
