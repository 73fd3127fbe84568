"""Scheduling: shifts, rosters, roll call, notices, handover and duty logs, leave, swaps and their
rules, staffing forecast, adherence."""
