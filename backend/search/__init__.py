"""Search: rankers, vector indexes, the engine with typed hits, attribution, results as JSON."""
