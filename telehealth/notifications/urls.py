from rest_framework.routers import SimpleRouter

from telehealth.notifications.views import NotificationViewSet

router = SimpleRouter()
router.register("", NotificationViewSet, basename="notification")

urlpatterns = [
    *router.urls,
]
