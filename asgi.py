"""ASGI entry point: ``daphne asgi:application``.

HTTP goes to Django; websockets go through the Origin policy and JWT authentication
(``signaling.auth``) to the routes in ``telehealth.routing``.
"""

import gc
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "telehealth.settings")

from django.core.asgi import get_asgi_application

# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from signaling.auth import WebsocketAuthMiddleware  # noqa: E402
from telehealth.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": WebsocketAuthMiddleware(URLRouter(websocket_urlpatterns)),
    }
)

# Everything imported so far lives as long as the process: keep it out of the garbage collector's
# full collections, whose pauses grow with the number of tracked objects.
gc.freeze()
