"""Request body parsing shared by every service's API."""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, with a body nested too deeply for Python's recursion limit
    answered as the client's error (400) instead of a server error.

    ``json`` decodes nested arrays and objects recursively; ``[[[...]]]`` some thousands
    deep, well inside the size limit, raises RecursionError, which DRF does not catch."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None
