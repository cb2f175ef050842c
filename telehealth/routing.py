"""Websocket routes. Each realtime app contributes its own list."""

from __future__ import annotations

from signaling.routing import websocket_urlpatterns as signaling_patterns

websocket_urlpatterns = [*signaling_patterns]
