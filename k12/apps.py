from django.apps import AppConfig


class K12Config(AppConfig):
    name = "k12"
    verbose_name = "People, subjects and sessions"
    default_auto_field = "django.db.models.BigAutoField"
