from django.dispatch import Signal

# Sent as alert_processed.send(sender=AlertGroup, alert_group=…, instance=…, status=…)
alert_processed = Signal()
