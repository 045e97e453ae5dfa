"""What a run tells people: result files, the trend across runs, progress lines."""
