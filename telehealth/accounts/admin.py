from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm

from telehealth.accounts.models import PhoneOTP, User


class PhoneUserCreationForm(UserCreationForm):
    class Meta:
        model = User
        fields = ("phone", "role")


class PhoneUserChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = PhoneUserChangeForm
    add_form = PhoneUserCreationForm
    ordering = ("-date_joined",)
    list_display = ("phone", "full_name", "role", "is_active", "date_joined")
    list_filter = ("role", "is_active")
    search_fields = ("phone", "first_name", "last_name", "email")
    readonly_fields = ("date_joined", "last_login", "phone_verified_at", "is_staff", "is_superuser")
    fieldsets = (
        (None, {"fields": ("phone", "password", "role", "is_active")}),
        ("Profile", {"fields": ("first_name", "last_name", "email", "timezone", "language")}),
        ("Dates", {"fields": ("date_joined", "last_login", "phone_verified_at")}),
        ("Django permissions", {"fields": ("is_staff", "is_superuser", "groups", "user_permissions")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("phone", "role", "password1", "password2")}),)


@admin.register(PhoneOTP)
class PhoneOTPAdmin(admin.ModelAdmin):
    """Read-only: codes are hashes and must never be edited by hand."""

    list_display = ("phone", "created_at", "expires_at", "attempts", "consumed_at", "invalidated_at")
    search_fields = ("phone",)
    exclude = ("code_hash",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
