from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CartConfig(AppConfig):
    name = "shop.cart"
    label = "cart"
    verbose_name = _("Cart")

    def ready(self):
        from allauth.account.signals import user_logged_in

        from accounts.privacy import privacy_erase_register, privacy_export_register
        from shop.cart.privacy import cart_erase, cart_export
        from shop.cart.signals import merge_cart_on_login

        user_logged_in.connect(merge_cart_on_login, dispatch_uid="shop.cart.merge_on_login")
        privacy_export_register("cart", cart_export)
        privacy_erase_register("cart", cart_erase)
