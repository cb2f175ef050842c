from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.generics import RetrieveUpdateAPIView
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.views import APIView

from telehealth.accounts import services
from telehealth.accounts.models import Role, User
from telehealth.accounts.serializers import (
    AccountCreateSerializer,
    AccountUpdateSerializer,
    AuthResultSerializer,
    LogoutSerializer,
    OTPChallengeSerializer,
    ProfileSerializer,
    RefreshSerializer,
    SendOTPSerializer,
    TokenPairSerializer,
    UserSerializer,
    VerifyOTPSerializer,
)
from telehealth.api.filters import IsoDateTimeFilter
from telehealth.api.permissions import IsAdmin
from telehealth.api.responses import ok
from telehealth.api.throttling import AuthRateThrottle, GeneralRateThrottle, OTPPhoneRateThrottle


class SendOTPView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [AuthRateThrottle, OTPPhoneRateThrottle]

    @extend_schema(
        tags=["auth"],
        summary="Text a login code to a phone",
        request=SendOTPSerializer,
        responses={200: OTPChallengeSerializer},
    )
    def post(self, request):
        serializer = SendOTPSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        challenge = services.request_otp(
            serializer.validated_data["phone"], ip=AuthRateThrottle().get_ident(request)
        )
        return ok(OTPChallengeSerializer(challenge).data, message="Code sent.")


class VerifyOTPView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [AuthRateThrottle]

    @extend_schema(
        tags=["auth"],
        summary="Log in with a code; creates a patient account on first login",
        request=VerifyOTPSerializer,
        responses={200: AuthResultSerializer},
    )
    def post(self, request):
        serializer = VerifyOTPSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user, created = services.verify_otp(**serializer.validated_data)
        tokens = services.issue_tokens(user)
        data = {**tokens, "user": UserSerializer(user).data, "created": created}
        return ok(data, message="Logged in.")


class RefreshView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [GeneralRateThrottle]

    @extend_schema(
        tags=["auth"],
        summary="Trade a refresh token for a new pair (the old one stops working)",
        request=RefreshSerializer,
        responses={200: TokenPairSerializer},
    )
    def post(self, request):
        serializer = RefreshSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return ok(services.rotate_refresh_token(serializer.validated_data["refresh"]))


class LogoutView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [GeneralRateThrottle]

    @extend_schema(
        tags=["auth"],
        summary="Revoke a refresh token (or all of the account's)",
        request=LogoutSerializer,
        responses={200: None},
    )
    def post(self, request):
        serializer = LogoutSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.logout(
            serializer.validated_data["refresh"],
            all_devices=serializer.validated_data["all_devices"],
        )
        return ok(None, message="Logged out.")


@extend_schema_view(
    get=extend_schema(summary="Your own account"),
    put=extend_schema(summary="Replace your editable profile fields"),
    patch=extend_schema(summary="Change some of your profile fields"),
)
@extend_schema(tags=["auth"])
class ProfileView(RetrieveUpdateAPIView):
    """The caller's own account."""

    serializer_class = ProfileSerializer
    permission_classes = [IsAuthenticated]

    def get_object(self) -> User:
        return self.request.user


class AccountFilter(django_filters.FilterSet):
    role = django_filters.ChoiceFilter(choices=Role.choices)
    joined_after = IsoDateTimeFilter(field_name="date_joined", lookup_expr="gte")
    joined_before = IsoDateTimeFilter(field_name="date_joined", lookup_expr="lt")

    class Meta:
        model = User
        fields = ["role", "is_active"]


@extend_schema_view(
    list=extend_schema(summary="List accounts (staff)"),
    retrieve=extend_schema(summary="One account (staff)"),
    create=extend_schema(summary="Create an account: the only way doctors and admins come to be"),
    update=extend_schema(summary="Replace an account's editable fields (staff)"),
    partial_update=extend_schema(summary="Change an account: role, activation, profile (staff)"),
)
@extend_schema(tags=["accounts"])
class AccountViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Staff management of accounts. Admins manage patients and doctors; superadmins also staff."""

    queryset = User.objects.all()
    permission_classes = [IsAdmin]
    filterset_class = AccountFilter
    search_fields = ["phone", "first_name", "last_name", "email"]
    ordering_fields = ["date_joined", "phone", "last_name", "role"]
    ordering = ["-date_joined"]

    def get_serializer_class(self):
        if self.action == "create":
            return AccountCreateSerializer
        if self.action in {"update", "partial_update"}:
            return AccountUpdateSerializer
        return UserSerializer

    @extend_schema(responses={201: UserSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.create_account(request.user, **serializer.validated_data)
        return ok(UserSerializer(user).data, message="Account created.", status=201)

    @extend_schema(responses={200: UserSerializer})
    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        user = self.get_object()
        serializer = self.get_serializer(user, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        user = services.update_account(request.user, user, **serializer.validated_data)
        return ok(UserSerializer(user).data, message="Account updated.")
