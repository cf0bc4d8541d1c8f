from django.urls import include, path

from servicekit.urls import service_urlpatterns

# No eventkit.urls: marketing records no events of its own, it only reads the order service's.
urlpatterns = [
    *service_urlpatterns(),
    path("", include("marketing.urls")),
]

handler400 = "servicekit.errors.json_bad_request"
handler404 = "servicekit.errors.json_not_found"
handler500 = "servicekit.errors.json_server_error"
