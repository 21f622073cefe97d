from django.urls import path

from . import views

app_name = "psp_sandbox"

urlpatterns = [
    path("v1/charges", views.charges, name="charges"),
    path("v1/charges/<str:charge_id>", views.charge_detail, name="charge_detail"),
    path("v1/refunds", views.refunds, name="refunds"),
    path("v1/payouts", views.payouts, name="payouts"),
    path("v1/outage", views.outage, name="outage"),
    path("v1/settlements", views.settlements, name="settlements"),
    path("v1/events/<str:event_id>", views.event_detail, name="event_detail"),
    path("v1/events/<str:event_id>/resend", views.event_resend, name="event_resend"),
]
