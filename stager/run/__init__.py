"""Runs: one training job on a cloud instance, from start to results."""
