"""``/``: the built web UI when there is one, else a page that says how to get it."""

from django.conf import settings
from django.http import FileResponse
from django.shortcuts import render


def index(request):
    built = settings.FRONTEND_DIST / "index.html"
    if built.is_file():
        return FileResponse(built.open("rb"), content_type="text/html")
    return render(request, "gateway/placeholder.html", status=200)
