from django.urls import include, path

from servicekit.urls import service_urlpatterns

urlpatterns = [
    *service_urlpatterns(),
    path("", include("eventkit.urls")),
    path("", include("sagas.urls")),
]

handler400 = "servicekit.errors.json_bad_request"
handler404 = "servicekit.errors.json_not_found"
handler500 = "servicekit.errors.json_server_error"
