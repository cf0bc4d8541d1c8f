"""The BFF's ASGI application: Django for HTTP, Channels for the order websockets."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_http = get_asgi_application()  # sets Django up before the consumers are imported

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import OriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from gateway.routing import websocket_urlpatterns  # noqa: E402
from servicekit.runtime import freeze_startup_objects  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_http,
        "websocket": OriginValidator(URLRouter(websocket_urlpatterns), settings.WS_ALLOWED_ORIGINS),
    }
)
freeze_startup_objects()
