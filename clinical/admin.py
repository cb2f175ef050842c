from django.contrib import admin

from clinical.models import ChatMessage, Consultation, ConsultationEvent, VitalSign


@admin.register(Consultation)
class ConsultationAdmin(admin.ModelAdmin):
    list_display = ("id", "patient", "doctor", "type", "state", "scheduled_start", "duration_minutes")
    list_filter = ("state", "type")
    search_fields = ("id", "patient__phone", "doctor__phone")
    raw_id_fields = ("patient", "doctor")
    readonly_fields = (
        "last_seq",
        "patient_read_seq",
        "doctor_read_seq",
        "waiting_since",
        "started_at",
        "ended_at",
    )
    date_hierarchy = "scheduled_start"


class _ReadOnly(admin.ModelAdmin):
    """The room log is append-only evidence: nobody edits it by hand."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ChatMessage)
class ChatMessageAdmin(_ReadOnly):
    list_display = ("consultation", "seq", "sender_role", "created_at")


@admin.register(ConsultationEvent)
class ConsultationEventAdmin(_ReadOnly):
    list_display = ("consultation", "seq", "kind", "created_at")


@admin.register(VitalSign)
class VitalSignAdmin(_ReadOnly):
    list_display = ("patient", "kind", "value", "value2", "unit", "measured_at", "is_abnormal")
    list_filter = ("kind", "is_abnormal")
