from django.urls import path
from rest_framework.routers import SimpleRouter

from telehealth.notifications.devices import DeviceView
from telehealth.notifications.views import NotificationViewSet

router = SimpleRouter()
router.register("", NotificationViewSet, basename="notification")

urlpatterns = [
    # Before the router: its detail route would take "devices" for a notification id.
    path("devices/", DeviceView.as_view(), name="notification-devices"),
    *router.urls,
]
