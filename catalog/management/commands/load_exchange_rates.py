"""Load the exchange rates file (settings.EXCHANGE_RATES_FILE) into the database."""

from django.core.management.base import BaseCommand

from catalog.services.prices import exchange_rates_load


class Command(BaseCommand):
    help = "Load exchange rates from the repository's rates file into django-money's tables."

    def handle(self, *args, **options):
        exchange_rates_load()
        self.stdout.write(self.style.SUCCESS("Exchange rates loaded."))
