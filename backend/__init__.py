"""Metaverse Search backend: pure Python, no UI imports. See docs/ARCHITECTURE.md."""
