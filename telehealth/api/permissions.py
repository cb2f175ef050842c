"""Role permissions. Combine with DRF's operators: ``IsDoctor | IsAdmin``."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from telehealth.accounts.models import STAFF_ROLES, Role


class _RolePermission(BasePermission):
    roles: frozenset[str] = frozenset()
    message = "Your role may not perform this action."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.role in self.roles)


class IsPatient(_RolePermission):
    roles = frozenset({Role.PATIENT})


class IsDoctor(_RolePermission):
    roles = frozenset({Role.DOCTOR})


class IsAdmin(_RolePermission):
    """Admins and superadmins: a superadmin may do everything an admin may."""

    roles = STAFF_ROLES


class IsSuperAdmin(_RolePermission):
    roles = frozenset({Role.SUPERADMIN})


def has_role(*roles: str) -> type[BasePermission]:
    """A permission class allowing exactly ``roles``: ``permission_classes = [has_role("doctor")]``."""
    return type(f"HasRole_{'_'.join(roles)}", (_RolePermission,), {"roles": frozenset(roles)})
