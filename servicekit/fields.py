"""Serializer fields with the bounds every API shares, so no view invents its own."""

from django.conf import settings
from rest_framework import serializers

DEFAULT_MAX_QUANTITY = 10_000
MAX_NAME_LENGTH = 200
MAX_PRICE = 10**12  # yen; far above any real basket, far below integer overflow
MAX_OFFSET = 10**12  # rows to skip; far above any real table, far below SQL's 64-bit OFFSET


def max_quantity() -> int:
    return getattr(settings, "MAX_QUANTITY", DEFAULT_MAX_QUANTITY)


class QuantityField(serializers.IntegerField):
    """A whole number of units, at least one and at most ``settings.MAX_QUANTITY``."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", max_quantity())
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        # DRF would take True as 1 and "3" as 3; a quantity is a JSON number.
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class NameField(serializers.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", MAX_NAME_LENGTH)
        kwargs.setdefault("trim_whitespace", True)
        kwargs.setdefault("allow_blank", False)
        super().__init__(**kwargs)


class YenField(serializers.IntegerField):
    """Money: a whole number of yen (the currency has no minor unit)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", MAX_PRICE)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)
