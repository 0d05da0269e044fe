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
"""

from __future__ import annotations

from .plan import (
    INEXACT,
    MAX_VARIANTS,
    NOT_IMPORTED,
    NOTE,
    AlertmanagerConfigError,
    ImportPlan,
    MissingDependency,
    PlannedRule,
    ReportLine,
    load_config,
    plan_file,
    plan_import,
)
from .templates import DEFAULT_MESSAGE, UnsupportedTemplate, convert

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
