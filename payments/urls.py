"""/api/payments/. Payment ids are UUIDs and coupon ids integers, so the literal paths next to them
(``coupons/check/``) never collide."""

from django.urls import path

from payments import views

payments = views.PaymentViewSet.as_view({"get": "list", "post": "create"})
coupons = views.CouponViewSet.as_view({"get": "list", "post": "create"})
coupon = views.CouponViewSet.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"})

urlpatterns = [
    path("payments/", payments, name="payment-list"),
    path("payments/<uuid:pk>/", views.PaymentViewSet.as_view({"get": "retrieve"}), name="payment-detail"),
    path(
        "payments/<uuid:pk>/verify/",
        views.PaymentViewSet.as_view({"post": "verify"}),
        name="payment-verify",
    ),
    path(
        "payments/<uuid:pk>/cancel/",
        views.PaymentViewSet.as_view({"post": "cancel"}),
        name="payment-cancel",
    ),
    path("payments/<uuid:pk>/receipt/", views.PaymentReceiptView.as_view(), name="payment-receipt"),
    path("payments/<uuid:pk>/refunds/", views.PaymentRefundsView.as_view(), name="payment-refunds"),
    path("payment-methods/", views.PaymentMethodListView.as_view(), name="payment-method-list"),
    path(
        "payment-methods/<str:method_id>/default/",
        views.PaymentMethodDefaultView.as_view(),
        name="payment-method-default",
    ),
    path(
        "payment-methods/<str:method_id>/",
        views.PaymentMethodDetailView.as_view(),
        name="payment-method-detail",
    ),
    path("coupons/", coupons, name="coupon-list"),
    path("coupons/check/", views.CouponViewSet.as_view({"post": "check"}), name="coupon-check"),
    path("coupons/<int:pk>/", coupon, name="coupon-detail"),
    path("earnings/", views.EarningsView.as_view(), name="earnings"),
    path("earnings/entries/", views.EarningsEntriesView.as_view(), name="earnings-entries"),
    path("analytics/", views.AnalyticsView.as_view(), name="payment-analytics"),
    path("webhooks/stripe/", views.StripeWebhookView.as_view(), name="webhook-stripe"),
    path("webhooks/razorpay/", views.RazorpayWebhookView.as_view(), name="webhook-razorpay"),
    path("webhooks/payu/", views.PayUWebhookView.as_view(), name="webhook-payu"),
]
