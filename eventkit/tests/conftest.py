import pytest


@pytest.fixture
def api():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture(params=["beside", "in place"])
def rebuilds(request, monkeypatch):
    """Rebuild beside the live tables (PostgreSQL's way) or in place (SQLite's, taken on
    PostgreSQL too here, so that both stay tested on the database the suite runs on)."""
    if request.param == "in place":
        from eventkit import shadow

        monkeypatch.setattr(shadow, "supported", lambda tables: False)
    return request.param
