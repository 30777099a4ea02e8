"""Recommendation from liked metaverses: HDBSCAN seed selection (MediaVerse D3.2 §4.2.2) on plain numpy vectors."""
