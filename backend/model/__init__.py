"""The HiCALM model: hierarchical visual and text encoders, checkpoints."""
