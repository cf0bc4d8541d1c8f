"""The WSGI application of a service that gunicorn serves."""

import io
import json
import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.utils.http import parse_header_parameters

from servicekit.runtime import freeze_startup_objects

# How long a web request's statement waits for a lock that no bound of its own covers (a
# read behind a LOCK TABLE, a migration, a rebuild): then 503 ``locked``. DB_LOCK_TIMEOUT_MS
# in the environment overrides it (0: no bound). Under the 5 s that the BFF and the saga
# wait for a peer's answer, so that they get this one: at 5 s their own timeout came first
# by a few milliseconds, and the BFF said the service "did not answer" (found from outside).
WEB_LOCK_TIMEOUT_MS = 4000


def service_application():
    """Django's WSGI application for ``config.settings``, taking chunked bodies whole,
    answering HEAD without a body and an unreadable Content-Type with 400, with the objects
    of start-up frozen (:func:`servicekit.runtime.freeze_startup_objects`)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DB_LOCK_TIMEOUT_MS", str(WEB_LOCK_TIMEOUT_MS))
    django = ReadableContentType(get_wsgi_application())
    application = WholeChunkedBodies(HeadWithoutBody(django), settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    freeze_startup_objects()
    return application


class WholeChunkedBodies:
    """Django reads as much of a body as ``CONTENT_LENGTH`` says, and a chunked request
    (``Transfer-Encoding: chunked``) has none: its body would read as empty and a valid
    command be refused as missing every field. Such a body is read here first, up to one
    byte past ``limit``, so that Django still refuses a longer one with 413."""

    def __init__(self, application, limit: int | None):
        self.application = application
        self.limit = limit

    def __call__(self, environ, start_response):
        if (
            "CONTENT_LENGTH" not in environ
            and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        ):
            body = environ["wsgi.input"].read(-1 if self.limit is None else self.limit + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.application(environ, start_response)


class HeadWithoutBody:
    """Django answers HEAD as it answers GET, body included. An answer to HEAD has no body:
    gunicorn drops it, but logs a warning for each one, so a monitor probing with HEAD
    would fill the log. The body is dropped here; its headers stay those of the GET."""

    def __init__(self, application):
        self.application = application

    def __call__(self, environ, start_response):
        answer = self.application(environ, start_response)
        if environ["REQUEST_METHOD"] != "HEAD":
            return answer
        close = getattr(answer, "close", None)
        if close is not None:
            close()  # Django's request_finished: the database connection goes back
        return []


UNREADABLE_CONTENT_TYPE = json.dumps(
    {"detail": "The Content-Type header cannot be read.", "code": "bad_request"}
).encode()


class ReadableContentType:
    """Django reads a request's Content-Type as it builds the request, before any middleware
    or error handler, and raises ValueError for a parameter in a charset that does not
    exist (``text/plain; a*=nope''x``): the server answered 500 in its own words and logged
    a traceback, for one header any client may send, on any method and path. It is refused
    here as the client's error, in JSON like every other."""

    def __init__(self, application):
        self.application = application

    def __call__(self, environ, start_response):
        try:
            parse_header_parameters(environ.get("CONTENT_TYPE", ""))
        except ValueError:
            start_response("400 Bad Request", [("Content-Type", "application/json")])
            return [UNREADABLE_CONTENT_TYPE]
        return self.application(environ, start_response)
