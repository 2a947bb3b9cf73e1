"""Breach alerts, reminders and escalations: written to the outbox in the transaction that
caused them, and delivered afterwards through each platform's `Messenger`."""
