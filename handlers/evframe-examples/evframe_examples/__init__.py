"""Example evframe handlers."""
