from django.apps import AppConfig


class AdminAppConfig(AppConfig):
    name = "admin_app"
    verbose_name = "Staff dashboard"
    default_auto_field = "django.db.models.BigAutoField"
