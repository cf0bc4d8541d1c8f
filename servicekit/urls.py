"""URLs every service has: health, OpenAPI schema, Swagger UI and admin.

A service's ``config/urls.py`` adds its own API to ``service_urlpatterns()`` and sets the
JSON error handlers from ``servicekit.errors``.
"""

from django.contrib import admin
from django.http import HttpResponse, JsonResponse
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from servicekit.health import health


class DocsView(SpectacularSwaggerView):
    """The Swagger UI page, for GET and HEAD. Its one renderer is an HTML template, so DRF's
    answer to OPTIONS (the view's metadata) had no template to render and was a 500; any
    other method is refused here in JSON, like every other error of the API."""

    http_method_names = ["get", "head"]

    def http_method_not_allowed(self, request, *args, **kwargs):
        return JsonResponse(
            {"detail": f'Method "{request.method}" not allowed.', "code": "method_not_allowed"},
            status=405,
            headers={"Allow": ", ".join(self._allowed_methods())},
        )


def no_favicon(request):
    """Browsers ask every page's site for an icon: the admin's and Swagger's pages left a
    404 in the console of whoever opened them (found from outside). There is none to give."""
    return HttpResponse(status=204)


def service_urlpatterns():
    return [
        path("health", health, name="health"),
        path("favicon.ico", no_favicon),
        path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
        path("api/docs/", DocsView.as_view(url_name="schema"), name="docs"),
        path("admin/", admin.site.urls),
    ]
