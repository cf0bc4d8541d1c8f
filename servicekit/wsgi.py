"""The WSGI application of a service that gunicorn serves."""

import io
import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from servicekit.runtime import freeze_startup_objects


def service_application():
    """Django's WSGI application for ``config.settings``, taking chunked bodies whole and
    answering HEAD without a body, with the objects of start-up frozen
    (:func:`servicekit.runtime.freeze_startup_objects`)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django = get_wsgi_application()
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
