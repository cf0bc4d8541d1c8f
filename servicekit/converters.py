"""The path converter for ids: ``<any_uuid:order_id>``.

Django's own ``uuid`` converter takes lowercase only, so an existing order asked for by its
id in capitals was a 404, while the same id in capitals in a body is accepted. A UUID is
read in either case (RFC 9562); it reaches the view as a ``uuid.UUID`` either way.
Importing this module registers it.
"""

from django.urls import register_converter
from django.urls.converters import UUIDConverter

ANY_UUID = "any_uuid"


class AnyCaseUUIDConverter(UUIDConverter):
    regex = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


register_converter(AnyCaseUUIDConverter, ANY_UUID)
