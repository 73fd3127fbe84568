"""Core: settings, database, clock, people and sign-in, audit trail, field encryption, event bus
and the Celery app. Imports nothing of ours."""
