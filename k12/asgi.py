"""ASGI entry point, served by daphne: HTTP through Django, WebSockets through Channels, and
/socket.io/ (both Engine.IO transports) through python-socketio for socket.io clients."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "k12.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from socketio import ASGIApp  # noqa: E402

from k12.authentication import SocketAuthMiddleware  # noqa: E402  (needs Django set up first)
from k12.process import SOCKET_SERVER_GC_THRESHOLDS, application_loaded  # noqa: E402
from k12.transport import install as write_at_once  # noqa: E402
from sessions_app.chat.gateway import server as socketio_server  # noqa: E402
from sessions_app.chat.routing import websocket_urlpatterns  # noqa: E402

channels_application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Origin checked against ALLOWED_HOSTS; the session cookie is read for browser logins,
        # a JWT arrives in the first frame (never in the URL).
        "websocket": AllowedHostsOriginValidator(SocketAuthMiddleware(URLRouter(websocket_urlpatterns))),
    }
)

# /socket.io/ (HTTP long-polling and its WebSocket upgrade) goes to the socket.io gateway; the origin
# check for it is Engine.IO's, against the same ALLOWED_HOSTS (sessions_app/chat/gateway.py).
application = ASGIApp(socketio_server, other_asgi_app=channels_application, socketio_path="socket.io")

# daphne writes each frame to its socket in the call, not on the loop's next pass.
write_at_once()
application_loaded(gc_thresholds=SOCKET_SERVER_GC_THRESHOLDS)
