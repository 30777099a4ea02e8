"""Evaluation: retrieval metrics and the eval command over a bundle."""
