"""The rig: Toxiproxy, the target and Locust, started, watched and removed.

It knows nothing of timelines or verdicts.
"""
