from django.urls import re_path

from signaling.consumers import ConsultationConsumer
from signaling.notifications import NotificationConsumer

websocket_urlpatterns = [
    # Any id shape reaches the consumer, which answers an unknown one with close code 4404.
    re_path(r"^ws/consultations/(?P<consultation_id>[^/]{1,64})/$", ConsultationConsumer.as_asgi()),
    re_path(r"^ws/notifications/$", NotificationConsumer.as_asgi()),
]
