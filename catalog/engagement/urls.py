from django.urls import path

from catalog.engagement import api, views

app_name = "engagement"

urlpatterns = [
    path("wishlist/", views.wishlist_page, name="wishlist"),
    path("wishlist/add/", views.wishlist_add_view, name="wishlist_add"),
    path("wishlist/remove/", views.wishlist_remove_view, name="wishlist_remove"),
    path("stock-alerts/", views.stock_alert_view, name="stock_alert"),
    path("reviews/<int:review_id>/report/", views.review_report_view, name="review_report"),
]

api_urlpatterns = [
    path("wishlist/", api.WishlistApi.as_view(), name="wishlist"),
    path("wishlist/<slug:product>/", api.WishlistItemApi.as_view(), name="wishlist_item"),
]
