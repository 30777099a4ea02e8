"""Encoders: one interface (encode_text / encode_image -> L2-normalised float32), several backends."""
