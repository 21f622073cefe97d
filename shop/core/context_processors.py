from django.conf import settings

from shop.core.money import request_currency


def shop(request):
    """Values every page needs: the brand, the chosen currency and the choices."""
    return {
        "current_currency": request_currency(request),
        "currencies": settings.CURRENCIES,
        "brand_name": settings.SHOP_NAME,
    }
