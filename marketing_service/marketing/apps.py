from django.apps import AppConfig


class MarketingConfig(AppConfig):
    name = "marketing"
    verbose_name = "Marketing analytics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from marketing import projections  # noqa: F401  (registers the read models)
