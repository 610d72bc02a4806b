from django.apps import AppConfig


class ExecutionAppConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "execution_app"
