"""Service-to-service authentication for command endpoints.

When ``SERVICE_TOKEN`` is set, a command must carry ``Authorization: Bearer <token>``;
otherwise it is refused with 403. The BFF is the only public entry, so only it and the
saga (which calls the participants) hold the token. Queries stay open inside the network.
With no token configured (a local run), commands are open to every caller but one: a
web page of another site, which a browser lets send a simple POST without asking first.
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
        # The scheme's name is case-insensitive (RFC 9110, 11.1), and spaces may follow it.
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        # As bytes: compare_digest refuses text with non-ASCII characters (a TypeError, so
        # a 500 for anyone who sends one), and a header's text may hold any latin-1.
        given = credentials.lstrip(" ").encode("utf-8", "surrogateescape")
        return hmac.compare_digest(given, token.encode())


class NotFromAnotherSite(BasePermission):
    """Refuses a command a browser sends from another site's page (Fetch Metadata).

    Any web page can make a browser POST an empty or ``text/plain`` body to a local service
    without a preflight, and with no service token set nothing else stops it. Browsers name
    where a request comes from in ``Sec-Fetch-Site``; the services' own callers (the BFF,
    the saga) are not browsers and send none, and the service's own docs page is
    ``same-origin``."""

    message = "Commands are not taken from other sites' pages."

    def has_permission(self, request, view) -> bool:
        return request.headers.get("Sec-Fetch-Site", "none") in ("same-origin", "none")
