"""The procedural demo world and its image renderer."""
