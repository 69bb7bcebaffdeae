"""Helpers shared by every stage: Ray start-up, atomic file output, progress."""
