from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    label = "accounts"
    verbose_name = _("Shoppers and staff")  # not a second "Accounts" beside allauth's

    def ready(self):
        from accounts.privacy import privacy_export_register
        from accounts.selectors import user_addresses_export, user_consents_export, user_profile_export

        privacy_export_register("profile", user_profile_export)
        privacy_export_register("addresses", user_addresses_export)
        privacy_export_register("consents", user_consents_export)
