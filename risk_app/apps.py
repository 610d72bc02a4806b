from django.apps import AppConfig


class RiskAppConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "risk_app"
