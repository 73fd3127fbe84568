"""Tickets: customers (encrypted), tiers, callback authorisations, tickets, timeline, SLA, escalation,
complaints, care reminders and their JSON API."""
