"""Locust extensions for room services: a WebSocket user and event hooks.

Everything here plugs into Locust through its own events and hooks
(``init_command_line_parser``, ``init``, ``request``, custom messages,
``quitting``); nothing of Locust is patched.
"""
