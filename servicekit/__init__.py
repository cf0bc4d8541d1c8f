"""Plumbing every service shares: settings, request context, logging, errors, health.

Nothing here knows about orders or stock; it is what makes five Django projects behave
as one system (same configuration variables, same error bodies, same log lines, same
correlation id from the first request to the last event).
"""
