"""The staff's desk (the Django admin, on ``admin_app.sites.StaffAdminSite``): a page for every
model of the core and of sessions_app, each writing through the same services as the API."""

from admin_app.admin import audit, core, sessions  # noqa: F401  (each registers its pages)
