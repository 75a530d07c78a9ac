"""Alerts: rules kept in the store (rules.py, store/alertrules.py), evaluated on a schedule
once across processes (scheduler.py, conditions.py), notifications by webhook and e-mail
(notify.py), delivered at least once from an outbox (delivery.py). docs/alerts.md."""
