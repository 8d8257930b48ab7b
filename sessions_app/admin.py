"""The Django admin's pages of what happens inside a session that sessions_app registers itself
(autodiscovery imports this module): the recordings' (sessions_app/recordings/admin.py)."""

from sessions_app.recordings import admin as recordings_admin  # noqa: F401  (registers on import)
