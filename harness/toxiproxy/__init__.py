"""Toxiproxy: the server binary (found, started, stopped) and the client over toxiproxy-python."""
