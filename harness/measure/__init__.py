"""What a run measured, and its readers: samples, series, lock reports, operations in flight."""
