"""Small helpers that keep DRF views thin and alike across services."""

import re
import uuid
from datetime import UTC, datetime

from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from servicekit.converters import AnyCaseUUIDConverter
from servicekit.fields import MAX_OFFSET, TextField
from servicekit.permissions import NotFromAnotherSite, ServiceTokenRequired

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200


class JsonAnswers(DefaultContentNegotiation):
    """A command is answered in JSON, its one renderer, without parsing the caller's
    ``Accept`` header on every call (a few per cent of a command's CPU). Request bodies are
    still matched to a parser by their content type: anything but JSON is a 415."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class CommandApi(APIView):
    """Base of every command view: guarded by the service token when one is configured,
    and never taken from another site's page in a browser."""

    permission_classes = [ServiceTokenRequired, NotFromAnotherSite]
    content_negotiation_class = JsonAnswers


class PageQuery(serializers.Serializer):
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=500, default=100, help_text="page size"
    )
    offset = serializers.IntegerField(
        required=False, min_value=0, max_value=MAX_OFFSET, default=0, help_text="rows to skip"
    )


# A query serializer in ``parameters`` documents its fields with their bounds, so the schema
# says what the view validates.
PAGE_PARAMETERS = [PageQuery]

# The refusals every command can answer, for @extend_schema(responses=...).
REFUSALS = {400: None, 404: None, 409: None}

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    {"type": "string", "maxLength": MAX_KEY_LENGTH},
    location=OpenApiParameter.HEADER,
    required=False,
    description="A repeat with the same key is answered with the first outcome, not re-applied. "
    f"At most {MAX_KEY_LENGTH} characters.",
)


class CommandInput(serializers.Serializer):
    """Base of command bodies: an optional idempotency key besides the header."""

    command_id = TextField(
        required=False,
        max_length=MAX_KEY_LENGTH,
        help_text="Idempotency key: a repeat with the same id is answered, not re-applied. "
        "The Idempotency-Key header works too.",
    )


def validated(serializer_class, data, **kwargs) -> dict:
    """Validate ``data`` or raise DRF's ValidationError (answered as a JSON 400)."""
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def path_uuid(name: str, value: str) -> uuid.UUID:
    """The id in a path segment taken as text (``<str:...>``), or DRF's ValidationError
    naming it (a JSON 400). A route with ``<any_uuid:...>`` answers a malformed id with a
    404, as it does an id that names nothing; where an id that names nothing is answered
    too (an empty stream), a malformed one is the client's mistake, and the answer says so.
    Well-formed means what ``<any_uuid:...>`` takes: 8-4-4-4-12 hex digits, in either case.
    """
    if not re.fullmatch(AnyCaseUUIDConverter.regex, value):
        raise serializers.ValidationError({name: ["Must be a valid UUID."]})
    return uuid.UUID(value)


def idempotency_key(request) -> str | None:
    """The request's ``Idempotency-Key``. A key too long is refused, not cut: two keys alike
    in their first 200 characters would be taken for one."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key and len(key) > MAX_KEY_LENGTH:
        raise serializers.ValidationError(
            {IDEMPOTENCY_HEADER: [f"Ensure this has no more than {MAX_KEY_LENGTH} characters."]}
        )
    return key or None


def command_id(request, data: dict) -> str | None:
    """The command's idempotency key: ``command_id`` in its body, else the header (checked
    either way: a header too long is refused even beside a body's key). Both, and different,
    name no one command: refused."""
    header = idempotency_key(request)
    body = data.get("command_id")
    if body and header and body != header:
        raise serializers.ValidationError(
            {"command_id": [f"Differs from the {IDEMPOTENCY_HEADER} header; send one key."]}
        )
    return body or header


def page(request) -> tuple[int, int]:
    q = validated(PageQuery, request.query_params)
    return q["limit"], q["offset"]


def list_response(items, total: int) -> Response:
    """A JSON array, as the seed answered, with the total in a header rather than a wrapper."""
    return Response(items, headers={"X-Total-Count": str(total)})


def command_response(outcome, *, created: bool = False) -> Response:
    """200 (201 when ``created`` and new); a replayed command says so in a header."""
    status = 201 if created and not outcome.replayed else 200
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    return Response(outcome.value, status=status, headers=headers)


def api_value(value):
    """``value`` as a DRF serializer field represents it: UUIDs as text, times as ISO 8601
    in UTC with a ``Z``. For answers built from ``values()`` rows, without a serializer."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value
