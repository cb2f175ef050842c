"""Serializer-field schemas drf-spectacular gets wrong for what we actually send.

Registered on import (``ApiConfig.ready``). Each one starts from drf-spectacular's own mapping and
only corrects it:

- A blank model field (``email = EmailField(blank=True)``, ``CharField(choices=..., blank=True)``)
  answers ``""`` when unset. drf-spectacular documents ``""`` only for serializer fields with
  ``allow_blank``, and DRF drops ``allow_blank`` from read-only model fields; so a response said
  ``format: email`` or an enum without ``""``. Here it is "formatted, or empty" as for allow_blank.
- ``TimeField`` is a wall-clock time without an offset ("09:00:00"); OpenAPI's ``format: time`` is
  RFC 3339 ``full-time``, which requires one.

Only responses change: a stored row can hold ``""`` whatever the input rules; requests are
documented by the serializer field, as drf-spectacular does.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

_STRING_CONSTRAINTS = ("format", "pattern", "minLength")
_OUTER_KEYS = {"readOnly", "writeOnly", "nullable", "deprecated", "description", "title"}


def _model_field_is_blank(field: serializers.Field) -> bool:
    meta = getattr(getattr(field, "parent", None), "Meta", None)
    model = getattr(meta, "model", None)
    source = getattr(field, "source", None)
    if model is None or not source or source == "*" or "." in source:
        return False
    try:
        model_field = model._meta.get_field(source)
    except FieldDoesNotExist:
        return False
    return isinstance(model_field, models.CharField | models.TextField) and model_field.blank


class BlankableStringExtension(OpenApiSerializerFieldExtension):
    target_class = "rest_framework.fields.CharField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction) -> dict[str, Any]:
        field = self.target
        schema = auto_schema._map_serializer_field(field, direction, bypass_extensions=True)
        if direction != "response" or field.allow_blank or not _model_field_is_blank(field):
            return schema  # drf-spectacular already documents an allow_blank field's "".
        # The same shape drf-spectacular gives an allow_blank field: formatted, or empty.
        auto_schema._insert_field_validators(field, schema)
        if schema.get("type") != "string" or not any(key in schema for key in _STRING_CONSTRAINTS):
            return schema
        outer = {key: schema.pop(key) for key in list(schema) if key in _OUTER_KEYS}
        return {**outer, "oneOf": [schema, {"type": "string", "maxLength": 0}]}


class BlankableChoiceExtension(OpenApiSerializerFieldExtension):
    target_class = "rest_framework.fields.ChoiceField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction) -> dict[str, Any]:
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        enum = schema.get("enum")
        if (
            direction == "response"
            and enum is not None
            and "" not in enum
            and _model_field_is_blank(self.target)
        ):
            schema["enum"] = [*enum, ""]
        return schema


class WallClockTimeExtension(OpenApiSerializerFieldExtension):
    target_class = "rest_framework.fields.TimeField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction) -> dict[str, Any]:
        return {
            "type": "string",
            "format": "partial-time",
            "pattern": r"^\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?$",
            "example": "09:00:00",
            "description": "A wall-clock time without a UTC offset (RFC 3339 partial-time).",
        }
