"""A join-by-connect room server with a strict same-origin check, like a classic Go chat hub.

``python -m tests.originserver --port PORT`` serves ``ws://127.0.0.1:PORT/ws?room=R&user=U``:
connecting joins room R as U, closing leaves it, and every frame a member sends
(``{"say": TEXT, "ref": ID}``) goes to the room's other members as ``{"event": "chat",
"from": U, "text": TEXT, "ref": ID}``. Before the handshake it checks the origin the way
gorilla/websocket's default ``CheckOrigin`` does, only stricter: the request's ``Origin``
must be there and its ``host:port`` must equal the ``Host`` header; otherwise it answers
``403 Forbidden`` with a one-line body saying why. A client that dials a proxy and sends the
proxy's address as its Origin is refused; one that sends the target's own origin is not.

Its rooms are tests/roomservers.py's join-by-connect dialect (path ``/ws`` instead of
``/chat``). It stands in for a server nobody here wrote (issue 19): the tests run it under
``--target-cmd``. It stops on SIGTERM and SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import threading
from http import HTTPStatus
from types import FrameType
from urllib.parse import urlsplit

from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection, serve

from tests.roomservers import ConnectRoom

__all__ = ["main", "origin_refusal"]


def origin_refusal(origin: str | None, host: str | None) -> str | None:
    """Why a handshake with these ``Origin`` and ``Host`` headers is refused; None: it is not."""
    if not origin:
        return "no Origin header"
    if urlsplit(origin).netloc.lower() != (host or "").lower():
        return f"origin {origin} is not this server's ({host})"
    return None


def check_origin(connection: ServerConnection, request: Request) -> Response | None:
    """``process_request``: 403 with the reason, or None to go on with the handshake."""
    refusal = origin_refusal(request.headers.get("Origin"), request.headers.get("Host"))
    if refusal is None:
        return None
    body = f"Forbidden: {refusal}\n".encode()
    return Response(HTTPStatus.FORBIDDEN.value, "Forbidden",
                    Headers([("Content-Type", "text/plain"),
                             ("Content-Length", str(len(body)))]), body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    with serve(ConnectRoom(), "127.0.0.1", port, process_request=check_origin,
               compression=None) as server:
        def stop(signum: int, frame: FrameType | None) -> None:
            threading.Thread(target=server.shutdown, daemon=True).start()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        print(f"originserver listening on ws://127.0.0.1:{port}/ws", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
