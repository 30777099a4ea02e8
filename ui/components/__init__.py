"""Rendering shared by every tab: result cards, room matches, status lines (result JSON -> escaped HTML)."""
