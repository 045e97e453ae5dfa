"""Runs without the web UI: one scenario, here or in a network namespace, and a sweep's runs."""
