"""The floor under our connect figures: daphne serving an ASGI app that only accepts websockets
(choosing ``telehealth.v1`` when offered) and greets with the bare relay's ``{"type": "hello"}``;
any HTTP request gets ``200 ok``. No Django, no Channels, no token, no database, no Redis.

    python -m daphne -p 8001 bench.daphne_floor:application

``bench/connect_burst.py --servers daphne`` bursts it: what daphne itself (Twisted, autobahn)
costs per handshake on this machine, next to ours and the ``websockets`` relay.
"""

from __future__ import annotations

import json

HELLO = json.dumps({"type": "hello"})
SUBPROTOCOL = "telehealth.v1"


async def application(scope, receive, send) -> None:
    if scope["type"] == "http":
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"ok"})
        return
    if scope["type"] != "websocket":
        return
    while True:
        message = await receive()
        if message["type"] == "websocket.connect":
            offered = scope.get("subprotocols") or []
            await send(
                {"type": "websocket.accept", "subprotocol": SUBPROTOCOL if SUBPROTOCOL in offered else None}
            )
            await send({"type": "websocket.send", "text": HELLO})
        elif message["type"] == "websocket.disconnect":
            return
