from __future__ import annotations

from rest_framework.renderers import JSONRenderer

from telehealth.api import error_codes
from telehealth.api.envelope import error_body, is_envelope, success_body


class EnvelopeJSONRenderer(JSONRenderer):
    """Wraps every DRF response in the envelope.

    Errors normally arrive already wrapped by the exception handler; a view that returned an error
    status by hand still gets a proper error envelope.
    """

    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if response is None:
            return super().render(data, accepted_media_type, renderer_context)
        if response.status_code == 204:
            return b""
        if not is_envelope(data):
            if response.status_code >= 400:
                code = error_codes.CODE_FOR_STATUS.get(response.status_code, error_codes.BAD_REQUEST)
                data = error_body(code, "The request could not be completed.", data)
            else:
                data = success_body(data, getattr(response, "envelope_message", None))
        return super().render(data, accepted_media_type, renderer_context)
