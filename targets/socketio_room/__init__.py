"""A Socket.IO room server with a monitored room lock: the Socket.IO reference target.

Run ``python -m targets.socketio_room --mode naive --port 0``. See :mod:`.server`.
"""
