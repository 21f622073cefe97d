from django.urls import path

from shop.orders import api, api_documents, api_guest, views

app_name = "orders"

# Pages.
urlpatterns = [
    path("", views.order_history, name="list"),
    path("checkout/", views.checkout_address, name="checkout"),
    path("checkout/payment/", views.checkout_payment, name="checkout_payment"),
    path("checkout/review/", views.checkout_review, name="checkout_review"),
    path("checkout/place/", views.checkout_place, name="checkout_place"),
    path("find/", views.order_find, name="find"),
    path("guest/<str:token>/", views.guest_order_detail, name="guest_detail"),
    path("guest/<str:token>/invoice/<str:document>.pdf", views.guest_order_document, name="guest_document"),
    path("<str:number>/", views.order_detail, name="detail"),
    path("<str:number>/cancel/", views.order_cancel_view, name="cancel"),
    path("<str:number>/return/", views.order_return, name="return"),
    path("<str:number>/invoice/<str:document>.pdf", views.order_document, name="document"),
]

# API, mounted under /api/v1/.
api_urlpatterns = [
    path("orders/", api.OrdersApi.as_view(), name="orders"),
    path("guest-orders/<str:token>/", api_guest.GuestOrderDetailApi.as_view(), name="guest-order"),
    path("orders/<str:number>/", api.OrderDetailApi.as_view(), name="order"),
    path("orders/<str:number>/cancel/", api.OrderCancelApi.as_view(), name="order-cancel"),
    path("orders/<str:number>/returns/", api.OrderReturnsApi.as_view(), name="order-returns"),
    path("orders/<str:number>/invoice.pdf", api_documents.OrderInvoiceApi.as_view(), name="order-invoice"),
    path("orders/<str:number>/documents/<str:document>.pdf", api_documents.OrderDocumentApi.as_view(), name="order-document"),
]
