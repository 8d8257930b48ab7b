from django.apps import AppConfig


class SessionsAppConfig(AppConfig):
    name = "sessions_app"
    verbose_name = "Inside a session: chat and recordings"
    default_auto_field = "django.db.models.BigAutoField"
