"""The BFF's ASGI application: Django for HTTP, Channels for the order websockets."""

import os

from django.core.wsgi import get_wsgi_application

from servicekit.wsgi import WEB_LOCK_TIMEOUT_MS

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DB_LOCK_TIMEOUT_MS", str(WEB_LOCK_TIMEOUT_MS))  # as every web process
django_wsgi = get_wsgi_application()  # sets Django up before the consumers are imported

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import OriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from config.threaded_wsgi import ThreadedWsgi  # noqa: E402
from gateway.routing import websocket_urlpatterns  # noqa: E402
from servicekit.runtime import freeze_startup_objects  # noqa: E402
from servicekit.wsgi import ReadableContentType  # noqa: E402

# Every HTTP view of the BFF is sync: each request takes one hop into a thread and runs
# through Django's WSGI handler there (config.threaded_wsgi), instead of crossing between
# the event loop and threads at every stage of Django's ASGI handler.
# 100 threads, and at most 200 requests waiting for one: beyond them a request is answered
# 503 at once (load shedding), as the saga's own gate does.
django_http = ThreadedWsgi(
    ReadableContentType(django_wsgi),
    threads=100,
    max_waiting=200,
    max_body=settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
)

application = ProtocolTypeRouter(
    {
        "http": django_http,
        "websocket": OriginValidator(URLRouter(websocket_urlpatterns), settings.WS_ALLOWED_ORIGINS),
    }
)
freeze_startup_objects()
