from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins

from telehealth.api.responses import ok


class EnvelopeDestroyModelMixin(mixins.DestroyModelMixin):
    """DELETE answers 200 with the envelope (``data: null``) instead of an empty 204."""

    @extend_schema(responses={200: OpenApiResponse(None, description="Deleted; `data` is null.")})
    def destroy(self, request, *args, **kwargs):
        self.perform_destroy(self.get_object())
        return ok(None, message="Deleted.")
