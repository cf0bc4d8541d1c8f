"""URLs every service has: health, OpenAPI schema, Swagger UI and admin.

A service's ``config/urls.py`` adds its own API to ``service_urlpatterns()`` and sets the
JSON error handlers from ``servicekit.errors``.
"""

from django.contrib import admin
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from servicekit.health import health


def service_urlpatterns():
    return [
        path("health", health, name="health"),
        path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
        path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
        path("admin/", admin.site.urls),
    ]
