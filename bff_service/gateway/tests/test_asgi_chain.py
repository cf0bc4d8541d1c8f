"""Under ASGI, the BFF's middleware chain runs sync, in one thread, around its sync views."""

from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler


def middleware_modes(monkeypatch) -> dict[str, bool]:
    """Build the ASGI handler's chain; for each middleware, whether Django made it async."""
    modes = {}
    adapt = BaseHandler.adapt_method_mode

    def recording(self, is_async, method, method_is_async=None, debug=False, name=None):
        if name and name.startswith("middleware "):
            modes[name.removeprefix("middleware ")] = is_async
        return adapt(self, is_async, method, method_is_async, debug, name)

    monkeypatch.setattr(BaseHandler, "adapt_method_mode", recording)
    ASGIHandler()
    return modes


def test_every_middleware_runs_sync_under_asgi(monkeypatch, settings):
    modes = middleware_modes(monkeypatch)
    assert list(modes) == list(reversed(settings.MIDDLEWARE))
    assert not any(modes.values()), modes


def test_without_the_sync_chain_django_would_run_its_own_middleware_async(monkeypatch, settings):
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if not m.endswith("SyncChainMiddleware")]
    modes = middleware_modes(monkeypatch)
    assert modes["django.contrib.sessions.middleware.SessionMiddleware"] is True
