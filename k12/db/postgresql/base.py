"""Django's PostgreSQL backend with a health check that costs no round trip while the connection
is quiet.

With persistent connections and ``CONN_HEALTH_CHECKS``, Django asks the server ``SELECT 1`` at
the start of every request that reuses a connection: a round trip and a statement on the server
for each request, a sizeable share of a chat request's own. A connection the server ended (a
restart, ``pg_terminate_backend``, an idle timeout) has something to read on its socket: the server's
last error message, or the end of the stream. So: an idle connection whose socket has nothing
to read is taken as usable; anything else gets Django's own ``SELECT 1`` check, which closes it
if the server is gone. (A network path that died silently fails either way only when the next
query times out.)
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base
from psycopg.pq import TransactionStatus


class DatabaseWrapper(base.DatabaseWrapper):
    def close_if_health_check_failed(self):
        if (
            self.connection is not None
            and self.health_check_enabled
            and not self.health_check_done
            and not self.pool
            and self._quiet()
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

    def _quiet(self) -> bool:
        """Open, idle, and nothing waiting to be read."""
        conn = self.connection
        if conn.closed or conn.broken or conn.info.transaction_status != TransactionStatus.IDLE:
            return False
        try:
            readable, _, _ = select.select([conn.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable
