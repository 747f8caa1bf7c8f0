"""The demo's port check: a listener is "in use", a stopped run's TIME_WAIT sockets are not."""

from __future__ import annotations

import contextlib
import socket

from firmware_sim.demo import _port_free


def _time_wait_port() -> int:
    """A port whose server closed an accepted connection first (so it holds TIME_WAIT)."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port: int = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    accepted.close()  # the server side closes first: its end of the connection enters TIME_WAIT
    client.recv(1)
    client.close()
    server.close()
    return port


def test_time_wait_sockets_of_a_stopped_server_leave_the_port_free() -> None:
    port = _time_wait_port()
    with contextlib.closing(socket.socket()) as plain:
        # Without SO_REUSEADDR the port would read as taken: the bug this check had.
        try:
            plain.bind(("127.0.0.1", port))
            time_wait_blocks_plain_bind = False
        except OSError:
            time_wait_blocks_plain_bind = True
    assert time_wait_blocks_plain_bind
    assert _port_free(port)


def test_a_listening_port_is_in_use() -> None:
    with contextlib.closing(socket.socket()) as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        assert not _port_free(server.getsockname()[1])
