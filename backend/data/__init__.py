"""Data: the collection model, bundles on disk, importers of published features, text and image loading."""
