from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CartConfig(AppConfig):
    name = "shop.cart"
    label = "cart"
    verbose_name = _("Cart")

    def ready(self):
        from allauth.account.signals import user_logged_in

        from shop.cart.signals import merge_cart_on_login

        user_logged_in.connect(merge_cart_on_login, dispatch_uid="shop.cart.merge_on_login")
