"""Growing the collection at run time: metaverses added beside the read-only bundle, encoded with its encoders."""
