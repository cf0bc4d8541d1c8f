"""What every operation of every service can answer, added to its OpenAPI schema.

drf-spectacular documents what each view declares. Some answers come from the plumbing
around the views instead, the same for all of them; this hook writes them into every
operation so that a client generated from the schema expects them:

* 503 from any operation: a peer or the database did not answer (``servicekit.errors``),
  with ``Retry-After``;
* 413 and 415 from any operation that takes a body: over the size limit, or not JSON;
* 403 from a command guarded by the service token (``ServiceTokenRequired``), when one is
  configured, or sent by a browser from another site's page (``NotFromAnotherSite``).

It also adds ``GET /health``, a plain Django view (kept off DRF's stack so that a probe
costs little), which drf-spectacular cannot see.
"""

import copy

from django.conf import settings

from servicekit.permissions import ServiceTokenRequired

_ERROR = {"$ref": "#/components/schemas/Error"}
ERROR_SCHEMA = {
    "type": "object",
    "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
    "required": ["detail", "code"],
    "additionalProperties": True,
}


def _answer(description: str, **extra) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": _ERROR}},
        **extra,
    }


UNAVAILABLE = _answer(
    "A peer or the database did not answer: try again after `Retry-After` seconds (a "
    "command with the same `Idempotency-Key`).",
    headers={"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
)


def too_large() -> dict:
    """413, with the limit this service runs with (``DATA_UPLOAD_MAX_MEMORY_SIZE``)."""
    kib = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 1024
    return _answer(f"The body is over the size limit ({kib} KiB).")


NOT_JSON = _answer("The body is not `application/json`.")
NO_TOKEN = _answer("A service token is configured and the request did not carry it.")


def _health_answer(description: str, *, healthy: bool) -> dict:
    properties = {
        "status": {"type": "string", "enum": ["healthy" if healthy else "unhealthy"]},
        "service": {"type": "string"},
        "database": {
            "type": "string",
            "description": "the database's vendor"
            if healthy
            else "what kind of failure the probe met (the error itself goes to the log)",
        },
    }
    if healthy:
        properties["database_ms"] = {"type": "number", "description": "the probe's time"}
    schema = {"type": "object", "properties": properties, "required": list(properties)}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


HEALTH = {
    "get": {
        "operationId": "health",
        "summary": "Whether the service can reach its database and write to it",
        "tags": ["health"],
        "responses": {
            "200": _health_answer("The database answered and takes writes.", healthy=True),
            "503": _health_answer(
                "The database could not be reached, did not answer in time, or refuses writes.",
                healthy=False,
            ),
        },
    }
}


def document_common_answers(result, generator, request, public):
    result.setdefault("paths", {}).setdefault("/health", copy.deepcopy(HEALTH))
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    over_limit = too_large()
    guarded = {
        (path, method.lower())
        for path, _, method, view in generator.endpoints or ()
        if any(p is ServiceTokenRequired for p in getattr(view.cls, "permission_classes", ()))
    }
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            responses.setdefault("503", UNAVAILABLE)
            if "requestBody" in operation:
                responses.setdefault("413", over_limit)
                responses.setdefault("415", NOT_JSON)
            if (path, method) in guarded:
                responses.setdefault("403", NO_TOKEN)
    return result
