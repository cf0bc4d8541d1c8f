from django.apps import AppConfig


class TestappConfig(AppConfig):
    name = "eventkit.tests.testapp"
    label = "testapp"

    def ready(self):
        from eventkit.tests.testapp import projections  # noqa: F401  (registers them)
