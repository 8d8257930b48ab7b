"""How daphne's connections write: at once, as asyncio's own transports do.

Twisted's TCP transport queues every write until the event loop's next pass: it registers the
socket for writability, the loop's poll reports it writable, the reactor writes it out, then
unregisters it (two epoll changes and a trip through the reactor per write). That is harmless
for one response, but a frame for a live room is one write to each of its sockets: for a room of
hundreds, the queueing cost as much as everything else the frame took, and every socket's frame
waited for the next pass.

``install`` makes a write to an accepted connection with nothing queued go to the kernel in the
call. What the kernel does not take (its buffer is full), and any write while something is
queued, goes through twisted's own buffered path, which keeps the order and the handling of a
failing socket (the error surfaces on that path's next writable pass, as it did before). So does
every write of a connection that is being aborted (twisted drops those), that has a pull
producer (twisted asks it for more only from a writable pass), that carries file descriptors
(a unix socket's queued ones go first), or that runs TLS through ``startTLS``. (TLS is
terminated in front of daphne anyway: docker/nginx.conf.)
"""

from __future__ import annotations

from twisted.internet import tcp

_queued_write = tcp.Server.write


def write_now(self: tcp.Server, data: bytes) -> None:
    if (
        type(data) is bytes
        and data
        and self.connected
        and not self._writeDisconnected
        and not self._aborting
        and not self.TLS
        and (self.producer is None or self.streamingProducer)
        and not getattr(self, "_sendmsgQueue", None)
        and not self._tempDataBuffer
        and self.offset == len(self.dataBuffer)
    ):
        try:
            sent = self.socket.send(data)
        except OSError:  # full (EAGAIN), or failing: twisted's path takes it from here
            sent = 0
        if sent == len(data):
            return
        data = data[sent:]
    _queued_write(self, data)


def install() -> None:
    """Accepted TCP connections write at once from now on (idempotent)."""
    tcp.Server.write = write_now
