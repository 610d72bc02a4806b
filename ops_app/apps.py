from django.apps import AppConfig


class OpsAppConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "ops_app"
    verbose_name = "Operations"
