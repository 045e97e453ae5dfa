"""Judging a run: the verdict over the threshold kinds, and checks that had no data."""
