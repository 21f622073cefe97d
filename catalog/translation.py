"""Catalogue content translated into every shop language (django-modeltranslation).

Each field below gets one column per language in settings.LANGUAGES
(`name_en`, `name_de`, ...); reading `product.name` gives the active
language's text, English when that one is empty. Keys that clients send
back (slugs, SKUs, option codes and values) are not translated.
"""

from django.conf import settings
from django.db.models import CharField, F, Value
from django.db.models.functions import Coalesce, NullIf
from django.utils.translation import get_language, override
from modeltranslation import settings as mt_settings
from modeltranslation.translator import TranslationOptions, register
from modeltranslation.utils import build_localized_fieldname

from catalog.models import Category, OptionValue, Product, ProductOption


@register(Category)
class CategoryTranslationOptions(TranslationOptions):
    fields = ("name", "description")


@register(Product)
class ProductTranslationOptions(TranslationOptions):
    fields = ("name", "description")


@register(ProductOption)
class ProductOptionTranslationOptions(TranslationOptions):
    fields = ("name",)


@register(OptionValue)
class OptionValueTranslationOptions(TranslationOptions):
    fields = ("label",)


def shop_languages() -> list[str]:
    """The shop's language codes, English (the fallback) first."""
    codes = [code for code, _name in settings.LANGUAGES]
    return sorted(codes, key=lambda code: code != mt_settings.DEFAULT_LANGUAGE)


def localized_fields(field: str) -> list[str]:
    """The columns of a translated field, one per shop language: name -> [name_en, name_de]."""
    return [build_localized_fieldname(field, lang) for lang in shop_languages()]


def localized_field(field: str, language: str | None = None) -> str:
    """The column of a translated field in `language` (the active one by default)."""
    return build_localized_fieldname(field, language or get_language() or mt_settings.DEFAULT_LANGUAGE)


def search_config(language: str) -> str:
    """PostgreSQL's text search configuration for a shop language ("simple" when none is set)."""
    return settings.CATALOG_SEARCH_CONFIGS.get(language, "simple")


def translated_expression(field: str, language: str | None = None):
    """SQL for a translated field as the shopper reads it: the active language's text, else English."""
    columns = dict.fromkeys([localized_field(field, language), localized_field(field, mt_settings.DEFAULT_LANGUAGE)])
    if len(columns) == 1:
        return F(next(iter(columns)))
    return Coalesce(*[NullIf(F(column), Value("")) for column in columns], output_field=CharField())


def in_default_language():
    """Save inside this: the original columns (`name`, kept by django-modeltranslation and read by
    apps that join products without its manager, e.g. staff reports) then hold the English text,
    not whichever language the saving request happened to speak."""
    return override(mt_settings.DEFAULT_LANGUAGE)
