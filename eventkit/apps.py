from django.apps import AppConfig


class EventkitConfig(AppConfig):
    name = "eventkit"
    verbose_name = "Event store"
    default_auto_field = "django.db.models.BigAutoField"
