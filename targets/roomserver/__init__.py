"""The bundled reference room server (see docs/wire-protocol.md).

Run it with ``python -m targets.roomserver --mode {naive,spawn,fixed}``.
"""
