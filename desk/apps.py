from django.apps import AppConfig


class DeskConfig(AppConfig):
    """The kernel: no models; registered for its template tags."""

    name = "desk"
