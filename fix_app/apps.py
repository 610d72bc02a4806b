from django.apps import AppConfig


class FixAppConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "fix_app"
    verbose_name = "FIX gateway"
