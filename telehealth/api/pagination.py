from __future__ import annotations

import math

from django.conf import settings
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response


class StandardPagination(PageNumberPagination):
    """``?page=`` and ``?page_size=`` (capped by ``API_MAX_PAGE_SIZE``)."""

    page_size_query_param = "page_size"

    @property
    def max_page_size(self) -> int:  # read at request time so tests and env can change it
        return settings.API_MAX_PAGE_SIZE

    def get_paginated_response(self, data) -> Response:
        count = self.page.paginator.count
        size = self.page.paginator.per_page
        return Response(
            {
                "count": count,
                "page": self.page.number,
                "page_size": size,
                "total_pages": max(1, math.ceil(count / size)) if size else 1,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return {
            "type": "object",
            "required": ["count", "page", "page_size", "total_pages", "next", "previous", "results"],
            "properties": {
                "count": {"type": "integer", "example": 42},
                "page": {"type": "integer", "example": 1},
                "page_size": {"type": "integer", "example": 20},
                "total_pages": {"type": "integer", "example": 3},
                "next": {"type": "string", "format": "uri", "nullable": True},
                "previous": {"type": "string", "format": "uri", "nullable": True},
                "results": schema,
            },
        }
