"""The rig over the network: the one HTTP GET and readiness poller, URL and host checks, TLS."""
