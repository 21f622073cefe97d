from django.urls import path

from shop.cart import api, views

app_name = "cart"

# Pages.
urlpatterns = [
    path("", views.cart_detail, name="detail"),
    path("add/", views.cart_add, name="add"),
    path("fit/", views.cart_fit_stock, name="fit"),
    path("lines/<int:product_id>/", views.cart_line_change, name="line_change"),
    path("lines/<int:product_id>/remove/", views.cart_line_delete, name="line_remove"),
    path("voucher/", views.cart_voucher_apply_view, name="voucher_apply"),
    path("voucher/remove/", views.cart_voucher_remove_view, name="voucher_remove"),
    path("gift-cards/", views.cart_gift_card_apply_view, name="gift_card_apply"),
    path("gift-cards/<str:last4>/remove/", views.cart_gift_card_remove_view, name="gift_card_remove"),
]

# API, mounted under /api/v1/.
api_urlpatterns = [
    path("cart/", api.CartApi.as_view(), name="cart"),
    path("cart/lines/", api.CartLinesApi.as_view(), name="cart-lines"),
    path("cart/lines/<int:line_id>/", api.CartLineDetailApi.as_view(), name="cart-line"),
    path("cart/voucher/", api.CartVoucherApi.as_view(), name="cart-voucher"),
    path("cart/gift-cards/", api.CartGiftCardsApi.as_view(), name="cart-gift-cards"),
    path("cart/gift-cards/<str:last4>/", api.CartGiftCardDetailApi.as_view(), name="cart-gift-card"),
    path("shipping-methods/", api.ShippingMethodsApi.as_view(), name="shipping-methods"),
]
