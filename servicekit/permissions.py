"""Service-to-service authentication for command endpoints.

When ``SERVICE_TOKEN`` is set, a command must carry ``Authorization: Bearer <token>``;
otherwise it is refused with 403. The BFF is the only public entry, so only it and the
saga (which calls the participants) hold the token. Queries stay open inside the network.
With no token configured (a local run), commands are open.
"""

import hmac

from django.conf import settings
from rest_framework.permissions import BasePermission


class ServiceTokenRequired(BasePermission):
    message = "This command needs the service token (Authorization: Bearer ...)."

    def has_permission(self, request, view) -> bool:
        token = settings.SERVICE_TOKEN
        if not token:
            return True
        # As bytes: compare_digest refuses text with non-ASCII characters (a TypeError, so
        # a 500 for anyone who sends one), and a header's text may hold any latin-1.
        given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
        return hmac.compare_digest(given, f"Bearer {token}".encode())
