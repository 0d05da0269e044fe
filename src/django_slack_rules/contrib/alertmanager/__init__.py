"""Import an Alertmanager configuration's Slack routing as rules.

```python
from django_slack_rules.contrib.alertmanager import plan_file

plan = plan_file("alertmanager.yml")
print(plan.format())                 # the rules best first, then what is inexact or not imported
for rule in plan.rules:              # apply: all or nothing, in one transaction
    SlackIntegrationRule(**rule.model_fields()).full_clean()
```

Reading YAML needs PyYAML: ``pip install "django-slack-rules[alertmanager]"``. Nothing
here touches Django or the database.

The modules, in the order a plan is made: ``config`` (reading and checking the YAML),
``routes`` (the route tree), ``unsupported`` (what the rules will not do, for the report),
``slack_configs`` (a receiver's channel and message, with ``templates`` converting the Go
templates that ``go_syntax`` reads), ``variants`` (the negations that keep the flat rules
exact), ``result`` (the plan, its rules and report, as text) and ``plan`` (the walk that
puts them together).
"""

from __future__ import annotations

from .config import AlertmanagerConfigError, MissingDependency, load_config
from .go_syntax import UnsupportedTemplate
from .plan import plan_file, plan_import
from .result import INEXACT, NOT_IMPORTED, NOTE, ImportPlan, PlannedRule, ReportLine
from .templates import DEFAULT_MESSAGE, convert
from .variants import MAX_VARIANTS

__all__ = [
    "DEFAULT_MESSAGE",
    "INEXACT",
    "MAX_VARIANTS",
    "NOTE",
    "NOT_IMPORTED",
    "AlertmanagerConfigError",
    "ImportPlan",
    "MissingDependency",
    "PlannedRule",
    "ReportLine",
    "UnsupportedTemplate",
    "convert",
    "load_config",
    "plan_file",
    "plan_import",
]
