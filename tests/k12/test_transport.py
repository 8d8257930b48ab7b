"""daphne's accepted TCP connections write at once (k12/transport.py): a write to a connection
with nothing queued goes to the kernel in the call, without registering the socket with the
reactor; what the kernel does not take is queued behind, through twisted's own buffered path."""

from __future__ import annotations

import os
import socket

import pytest
from twisted.internet import tcp
from twisted.internet.interfaces import IPullProducer
from twisted.internet.protocol import Protocol
from twisted.internet.testing import MemoryReactorClock
from zope.interface import implementer

from k12 import transport


@pytest.fixture
def connection():
    """A twisted server-side connection over one end of a socket pair, on a reactor that only
    records what is registered with it; the other end is the client."""
    transport.install()
    ours, client = socket.socketpair()
    ours.setblocking(False)
    client.setblocking(False)
    reactor = MemoryReactorClock()
    protocol = Protocol()
    conn = tcp.Server(ours, protocol, ("127.0.0.1", 1), None, 1, reactor)
    protocol.makeConnection(conn)
    yield conn, client, reactor
    client.close()
    ours.close()


def _read_all(client: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            chunk = client.recv(1 << 20)
        except BlockingIOError:
            return b"".join(chunks)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def test_a_write_to_an_idle_connection_reaches_the_kernel_in_the_call(connection):
    conn, client, reactor = connection
    conn.write(b"frame one")
    conn.write(b"frame two")
    assert _read_all(client) == b"frame oneframe two"
    assert reactor.getWriters() == []  # nothing left to wait for


def test_what_the_kernel_does_not_take_is_queued_and_later_writes_stay_behind_it(connection):
    conn, client, reactor = connection
    big = os.urandom(8 << 20)  # more than a socket pair's buffers hold
    conn.write(big)
    assert reactor.getWriters() == [conn]  # the rest waits for the socket to be writable
    received = [_read_all(client)]  # the kernel has room again, but the rest of `big` is queued
    conn.write(b"after")  # so this goes behind it, not ahead
    while reactor.getWriters():
        assert conn.doWrite() is None
        received.append(_read_all(client))
    assert b"".join(received) == big + b"after"


def test_a_write_to_a_connection_the_peer_closed_fails_as_twisted_reports_it(connection):
    conn, client, reactor = connection
    client.close()
    conn.write(b"into the void")  # no exception from the write itself
    # twisted's buffered path takes the failure: the next writable pass reports the loss.
    assert reactor.getWriters() == [conn]
    assert conn.doWrite() is not None


def test_a_write_after_an_abort_is_dropped_as_twisted_drops_it(connection):
    conn, client, _ = connection
    conn.abortConnection()
    conn.write(b"too late")
    assert _read_all(client) == b""


@implementer(IPullProducer)
class _Chunks:
    """A pull producer writing ``count`` chunks, one each time it is asked."""

    def __init__(self, conn, count: int):
        self.conn, self.left = conn, count

    def resumeProducing(self):
        if self.left:
            self.left -= 1
            self.conn.write(b"chunk")
        else:
            self.conn.unregisterProducer()

    def stopProducing(self):
        self.left = 0


def test_a_pull_producer_is_asked_for_more_as_twisted_asks_it(connection):
    conn, client, reactor = connection
    conn.registerProducer(_Chunks(conn, 3), streaming=False)
    for _ in range(10):
        if not reactor.getWriters():
            break
        conn.doWrite()
    assert _read_all(client) == b"chunk" * 3


def test_text_is_refused_as_twisted_refuses_it(connection):
    conn, _, _ = connection
    with pytest.raises(TypeError):
        conn.write("not bytes")
