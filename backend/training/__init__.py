"""Trainers (drivers on top of the model): HiCALM and the demo image tower, with their losses."""
