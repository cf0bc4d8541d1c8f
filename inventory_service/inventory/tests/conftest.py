import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

MONITOR = "d4444444-4444-4444-4444-444444444444"  # stock 30 in the sample catalog


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def catalog(db):
    call_command("seed_catalog", stdout=open("/dev/null", "w"))  # noqa: SIM115
