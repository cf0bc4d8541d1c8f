from django.urls import include, path

from gateway.views import index
from servicekit.urls import service_urlpatterns

urlpatterns = [
    *service_urlpatterns(),
    path("api/", include("gateway.urls")),
    path("", index, name="index"),
]

handler400 = "servicekit.errors.json_bad_request"
handler404 = "servicekit.errors.json_not_found"
handler500 = "servicekit.errors.json_server_error"
