"""Rankers: map queries and the collection into one space (baseline, hicalm); see docs/ARCHITECTURE.md."""
