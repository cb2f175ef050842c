"""The admin site for the clinical models.

Health records (patient data, notes, vitals, the room log, reviews) are shown read-only: they are
written through the API, where access is checked and audit-logged. The doctor and clinic
verification status moves only through the workflow (the actions below call the same services as
the API). An issued prescription is locked; the admin shows it and never edits or deletes it.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from clinical.clinics import services as clinic_services
from clinical.doctors import services as doctor_services
from clinical.models import (
    Allergy,
    AvailabilityException,
    AvailabilityRule,
    ChatMessage,
    Clinic,
    ClinicMember,
    ClinicReview,
    ClinicService,
    Condition,
    Consultation,
    ConsultationEvent,
    ConsultationNote,
    CurrentMedication,
    DoctorProfile,
    Document,
    Education,
    EmergencyContact,
    Experience,
    FamilyHistory,
    Insurance,
    InventoryItem,
    Language,
    MedicalRecord,
    Medication,
    PatientNote,
    PatientProfile,
    Prescription,
    PrescriptionItem,
    PrescriptionStatus,
    Review,
    Specialisation,
    Surgery,
    VerificationStatus,
    VitalSign,
)
from telehealth.api.errors import ServiceError


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
    list_select_related = ("patient", "doctor")


class _ReadOnly(admin.ModelAdmin):
    """The room log is append-only evidence: nobody edits it by hand."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class _ViewOnly(_ReadOnly):
    """Health records and ratings: viewed here, written through the API (access checks, audit log,
    rating sums). Deleting one here would bypass all of that too."""

    def has_delete_permission(self, request, obj=None) -> bool:
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
    list_select_related = ("patient",)


@admin.register(ConsultationNote)
class ConsultationNoteAdmin(_ViewOnly):
    list_display = ("consultation", "author", "created_at")
    list_select_related = ("author",)
    search_fields = ("consultation__id", "author__phone")


# --- Patients ------------------------------------------------------------------------------------


@admin.register(PatientProfile)
class PatientProfileAdmin(_ViewOnly):
    list_display = ("user", "sex", "date_of_birth", "blood_group", "city", "country")
    list_filter = ("sex", "blood_group", "country")
    search_fields = ("user__phone", "user__first_name", "user__last_name", "city")
    list_select_related = ("user",)


class _PatientRecordAdmin(_ViewOnly):
    list_select_related = ("patient",)
    search_fields = ("patient__phone",)
    date_hierarchy = "created_at"


@admin.register(Condition)
class ConditionAdmin(_PatientRecordAdmin):
    list_display = ("patient", "name", "icd10_code", "since", "active")
    list_filter = ("active",)


@admin.register(Allergy)
class AllergyAdmin(_PatientRecordAdmin):
    list_display = ("patient", "substance", "reaction", "severity")
    list_filter = ("severity",)


@admin.register(Surgery)
class SurgeryAdmin(_PatientRecordAdmin):
    list_display = ("patient", "procedure", "performed_on")


@admin.register(FamilyHistory)
class FamilyHistoryAdmin(_PatientRecordAdmin):
    list_display = ("patient", "relation", "condition")


@admin.register(CurrentMedication)
class CurrentMedicationAdmin(_PatientRecordAdmin):
    list_display = ("patient", "name", "dose", "frequency", "started_on")


@admin.register(Insurance)
class InsuranceAdmin(_PatientRecordAdmin):
    list_display = ("patient", "provider", "policy_number", "valid_from", "valid_until")


@admin.register(EmergencyContact)
class EmergencyContactAdmin(_PatientRecordAdmin):
    list_display = ("patient", "name", "relation", "phone")


@admin.register(MedicalRecord)
class MedicalRecordAdmin(_PatientRecordAdmin):
    list_display = ("patient", "record_type", "title", "record_date", "author_name")
    list_filter = ("record_type",)


@admin.register(PatientNote)
class PatientNoteAdmin(_PatientRecordAdmin):
    list_display = ("patient", "author", "created_at")
    list_select_related = ("patient", "author")


@admin.register(Document)
class DocumentAdmin(_ViewOnly):
    """Metadata only: the file lives in private storage with no URL and is served by the API's
    authorised download endpoints, never from here."""

    list_display = ("id", "owner", "kind", "content_type", "size", "created_at")
    list_filter = ("kind", "content_type")
    search_fields = ("id", "owner__phone", "sha256")
    list_select_related = ("owner",)
    exclude = ("file",)


# --- Doctors -------------------------------------------------------------------------------------


@admin.register(Specialisation)
class SpecialisationAdmin(admin.ModelAdmin):
    list_display = ("name", "slug")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Language)
class LanguageAdmin(admin.ModelAdmin):
    list_display = ("code", "name")
    search_fields = ("code", "name")


class EducationInline(admin.TabularInline):
    model = Education
    extra = 0


class ExperienceInline(admin.TabularInline):
    model = Experience
    extra = 0


class AvailabilityRuleInline(admin.TabularInline):
    model = AvailabilityRule
    extra = 0
    raw_id_fields = ("clinic",)


class AvailabilityExceptionInline(admin.TabularInline):
    model = AvailabilityException
    extra = 0


@admin.register(DoctorProfile)
class DoctorProfileAdmin(admin.ModelAdmin):
    list_display = (
        "user",
        "registration_number",
        "verification_status",
        "fee_amount",
        "fee_currency",
        "years_of_experience",
        "rating_average",
        "rating_count",
    )
    list_filter = ("verification_status", "fee_currency", "specialisations")
    search_fields = ("user__phone", "user__first_name", "user__last_name", "registration_number")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    filter_horizontal = ("specialisations", "languages")
    # The workflow owns these (changing verified credentials must send the doctor back to pending,
    # which only the API does), and reviews own the rating sums.
    readonly_fields = (
        "registration_number",
        "council",
        "verification_status",
        "rejection_reason",
        "verified_by",
        "verified_at",
        "rating_sum",
        "rating_count",
        "created_at",
        "updated_at",
    )
    inlines = (EducationInline, ExperienceInline, AvailabilityRuleInline, AvailabilityExceptionInline)
    actions = ("verify_selected",)

    def has_add_permission(self, request) -> bool:
        return False  # doctors create their own profile (PUT /api/doctors/me/)

    @admin.action(description="Verify the selected pending doctors")
    def verify_selected(self, request: HttpRequest, queryset: QuerySet[DoctorProfile]) -> None:
        done = 0
        for profile in queryset.filter(verification_status=VerificationStatus.PENDING):
            try:
                doctor_services.verify_doctor(request.user, profile)
            except ServiceError as error:  # another admin decided meanwhile
                self.message_user(request, f"{profile}: {error}", messages.WARNING)
                continue
            done += 1
        self.message_user(request, f"Verified {done} doctor(s).", messages.SUCCESS)


@admin.register(Review)
class ReviewAdmin(_ViewOnly):
    list_display = ("doctor", "patient", "rating", "created_at")
    list_filter = ("rating",)
    list_select_related = ("doctor", "patient")
    search_fields = ("doctor__phone", "patient__phone")


# --- Prescriptions -------------------------------------------------------------------------------


@admin.register(Medication)
class MedicationAdmin(admin.ModelAdmin):
    list_display = ("generic_name", "brand_name", "form", "strength", "drug_class")
    list_filter = ("form", "drug_class")
    search_fields = ("generic_name", "brand_name", "drug_class")


class PrescriptionItemInline(admin.TabularInline):
    model = PrescriptionItem
    extra = 0
    raw_id_fields = ("medication",)

    def _is_draft(self, obj: Prescription | None) -> bool:
        return obj is not None and obj.status == PrescriptionStatus.DRAFT

    def has_add_permission(self, request, obj=None) -> bool:
        return self._is_draft(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._is_draft(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._is_draft(obj) and super().has_delete_permission(request, obj)


@admin.register(Prescription)
class PrescriptionAdmin(admin.ModelAdmin):
    """Prescriptions are written in consultations through the API. A draft may be corrected here;
    once issued it is locked (the model refuses changes too) and shown read-only."""

    list_display = ("id", "patient", "doctor", "status", "version", "issued_at", "verification_code")
    list_filter = ("status",)
    search_fields = ("id", "verification_code", "patient__phone", "doctor__phone")
    list_select_related = ("patient", "doctor")
    date_hierarchy = "created_at"
    fields = ("notes",)
    readonly_fields = (
        "consultation",
        "doctor",
        "patient",
        "status",
        "version",
        "previous",
        "issued_at",
        "verification_code",
        "override_reason",
        "warnings",
        "created_at",
    )
    inlines = (PrescriptionItemInline,)

    def get_fields(self, request, obj=None):
        return (*self.readonly_fields, *self.fields)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        locked = obj is not None and obj.status != PrescriptionStatus.DRAFT
        return not locked and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        # Only a single draft, from its page: the bulk delete action would hit locked rows.
        return (
            obj is not None
            and obj.status == PrescriptionStatus.DRAFT
            and super().has_delete_permission(request, obj)
        )


# --- E-clinics -----------------------------------------------------------------------------------


class ClinicMemberInline(admin.TabularInline):
    model = ClinicMember
    extra = 0
    raw_id_fields = ("user",)


class ClinicServiceInline(admin.TabularInline):
    model = ClinicService
    extra = 0


class InventoryItemInline(admin.TabularInline):
    model = InventoryItem
    extra = 0
    raw_id_fields = ("medication",)


@admin.register(Clinic)
class ClinicAdmin(admin.ModelAdmin):
    list_display = ("name", "city", "country", "verification_status", "rating_average", "rating_count")
    list_filter = ("verification_status", "country")
    search_fields = ("name", "city", "phone", "email")
    raw_id_fields = ("created_by",)
    readonly_fields = (
        "verification_status",
        "rejection_reason",
        "verified_by",
        "verified_at",
        "rating_sum",
        "rating_count",
        "created_at",
    )
    inlines = (ClinicMemberInline, ClinicServiceInline, InventoryItemInline)
    actions = ("verify_selected",)

    @admin.action(description="Verify the selected pending clinics")
    def verify_selected(self, request: HttpRequest, queryset: QuerySet[Clinic]) -> None:
        done = 0
        for clinic in queryset.filter(verification_status=VerificationStatus.PENDING):
            try:
                clinic_services.verify_clinic(request.user, clinic)
            except ServiceError as error:  # raced by another admin, or not platform staff
                self.message_user(request, f"{clinic}: {error}", messages.WARNING)
                continue
            done += 1
        self.message_user(request, f"Verified {done} clinic(s).", messages.SUCCESS)


@admin.register(InventoryItem)
class InventoryItemAdmin(admin.ModelAdmin):
    list_display = ("clinic", "medication", "stock", "low_stock_threshold", "unit", "low_stock")
    list_filter = ("clinic",)
    search_fields = ("clinic__name", "medication__generic_name")
    list_select_related = ("clinic", "medication")
    raw_id_fields = ("clinic", "medication")

    @admin.display(boolean=True, description="Low stock")
    def low_stock(self, obj: InventoryItem) -> bool:
        return obj.low_stock


@admin.register(ClinicReview)
class ClinicReviewAdmin(_ViewOnly):
    list_display = ("clinic", "patient", "rating", "created_at")
    list_filter = ("rating",)
    list_select_related = ("clinic", "patient")
