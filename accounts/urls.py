from django.urls import path
from rest_framework.routers import SimpleRouter

from accounts import api, api_privacy, views

app_name = "accounts"

# Pages, mounted under /account/.
urlpatterns = [
    path("", views.profile, name="profile"),
    path("addresses/", views.address_list, name="address_list"),
    path("addresses/new/", views.address_create, name="address_create"),
    path("addresses/<int:address_id>/edit/", views.address_edit, name="address_edit"),
    path("addresses/<int:address_id>/delete/", views.address_delete, name="address_delete"),
    path("addresses/<int:address_id>/default/", views.address_set_default, name="address_set_default"),
    path("export/", views.account_export, name="export"),
    path("delete/", views.account_delete, name="delete"),
]

router = SimpleRouter()
router.register("addresses", api.AddressApi, basename="address")

# API, mounted under /api/v1/.
api_urlpatterns = [
    # api_privacy.MeApi is api.MeApi with DELETE (erasure) added.
    path("me/", api_privacy.MeApi.as_view(), name="me"),
    path("me/export/", api_privacy.MeExportApi.as_view(), name="me-export"),
    *router.urls,
]
