from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class AdminAppConfig(AppConfig):
    name = "admin_app"
    verbose_name = "Staff dashboard"
    default_auto_field = "django.db.models.BigAutoField"


class StaffAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the staff's desk as its default site: INSTALLED_APPS names this
    instead of "django.contrib.admin", so ``admin.site`` and ``@admin.register`` everywhere mean
    the desk."""

    # Not the config "admin_app" picks for itself (AdminConfig says default = True).
    default = False
    default_site = "admin_app.sites.StaffAdminSite"
