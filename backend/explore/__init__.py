"""Exploration maps of the collection: 2-D layout, clusters and their labels, placing a query on the map."""
