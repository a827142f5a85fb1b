"""Deliberately broken entry points for evframe's tests."""
