"""HTTP views of the signaling app."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from signaling.asyncapi import build_asyncapi


@extend_schema(exclude=True)
class AsyncAPIView(APIView):
    """``GET /api/asyncapi/``: the room websocket protocol as an AsyncAPI 3.0.0 document.

    Public, and the raw document (not the API envelope), so AsyncAPI tools can load the URL. The
    server entry is built from this request's host and scheme (ws, or wss behind HTTPS).
    """

    authentication_classes: list = []
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer]

    def get(self, request: Request) -> Response:
        return Response(build_asyncapi(request.get_host(), secure=request.is_secure()))
