"""Tabs of the app, one module each (search, about)."""
