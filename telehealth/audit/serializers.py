from __future__ import annotations

from rest_framework import serializers

from telehealth.audit.models import AuditEntry


class AuditEntrySerializer(serializers.ModelSerializer):
    actor = serializers.UUIDField(source="actor_id", read_only=True, allow_null=True)
    actor_name = serializers.SerializerMethodField()
    subject = serializers.UUIDField(source="subject_id", read_only=True, allow_null=True)
    subject_name = serializers.SerializerMethodField()

    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "at",
            "actor",
            "actor_name",
            "actor_role",
            "subject",
            "subject_name",
            "action",
            "resource",
            "object_id",
            "ip",
            "user_agent",
            "method",
            "path",
        ]
        read_only_fields = fields

    def get_actor_name(self, entry: AuditEntry) -> str:
        return entry.actor.full_name if entry.actor else ""

    def get_subject_name(self, entry: AuditEntry) -> str:
        return entry.subject.full_name if entry.subject else ""
