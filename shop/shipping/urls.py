from django.urls import path

from shop.shipping import webhooks

app_name = "shipping"

urlpatterns = [
    path("webhooks/<slug:carrier>/", webhooks.carrier_webhook, name="carrier_webhook"),
]
