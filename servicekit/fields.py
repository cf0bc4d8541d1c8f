"""Serializer fields with the bounds every API shares, so no view invents its own."""

import re
import unicodedata

from django.conf import settings
from django.core.exceptions import ValidationError
from rest_framework import serializers

DEFAULT_MAX_QUANTITY = 10_000
MAX_NAME_LENGTH = 200
MAX_PRICE = 10**12  # yen; far above any real basket, far below integer overflow
MAX_OFFSET = 10**12  # rows to skip; far above any real table, far below SQL's 64-bit OFFSET


# What the columns hold: quantities are 32-bit, a total price (quantity x at most
# MAX_PRICE) 64-bit. A higher MAX_QUANTITY would let valid input fail in the database.
LARGEST_QUANTITY = min(2**31 - 1, (2**63 - 1) // MAX_PRICE)


def max_quantity() -> int:
    return min(getattr(settings, "MAX_QUANTITY", DEFAULT_MAX_QUANTITY), LARGEST_QUANTITY)


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


# Characters a name has no use for, which only hide or disguise it: control characters
# (tab, newline, BEL, ESC, ...), the line and paragraph separators that logs take for new
# lines, the bidirectional marks, overrides and isolates that reorder what is shown, and
# invisible characters and fillers that make two names look alike or a name look blank.
# Joiners stay (emoji, some scripts need them), and so do tags where they spell a
# subdivision flag (a black flag, tag letters, a cancel tag), their only use in a name.
_HIDDEN = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b\u200e\u200f"
    "\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u206f\u3164\ufeff\uffa0"
    "\U0001d173-\U0001d17a\U000e0000-\U000e007f]"
)
_FLAG_TAGS = re.compile("\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f")


# What shows nothing by itself: marks (which sit on another character), format characters
# (joiners, variation selectors, tags), separators, and the blank Braille pattern.
_BLANK_CATEGORIES = frozenset({"Mn", "Mc", "Me", "Cf", "Zs", "Zl", "Zp", "Cc"})
_BLANK = frozenset("\u2800")


def no_hidden_characters(value: str) -> None:
    shown = _FLAG_TAGS.sub("\U0001f3f4", value)
    if _HIDDEN.search(shown) or any(unicodedata.category(c) == "Cc" for c in value):
        raise ValidationError("Names may not contain control or invisible characters.")
    if all(c in _BLANK or unicodedata.category(c) in _BLANK_CATEGORIES for c in value):
        raise ValidationError("Names must show at least one letter, digit or sign.")


class TextField(serializers.CharField):
    """Text as a JSON string. DRF's CharField also takes a number and makes it a string."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class NameQueryField(TextField):
    """A name as it is stored and looked up: in one spelling (NFC), since "é" as one
    character and as "e" with a combining accent would otherwise be two customers who look
    the same, and a search typed either way must find them."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", MAX_NAME_LENGTH)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        return unicodedata.normalize("NFC", super().to_internal_value(data))


class NameField(NameQueryField):
    """A person's or product's name: text, with no control or invisible characters and at
    least one that shows, 1 to 200 characters once trimmed."""

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", True)
        kwargs.setdefault("allow_blank", False)
        super().__init__(**kwargs)
        self.validators.append(no_hidden_characters)


class IdField(serializers.UUIDField):
    """An id: a UUID written as a JSON string. DRF would also take a number as the UUID's
    128-bit integer, so that 123 named 00000000-0000-0000-0000-00000000007b."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


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
