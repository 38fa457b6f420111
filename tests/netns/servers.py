"""Tiny servers and clients that run inside test namespaces, on threads of the test.

`NodeServer` stands in for a cluster node: TCP and UDP echo servers that
answer each message with `<name> <peer ip>:<peer port>` (so a test sees which
node got the flow and which client address it saw) and an HTTP health
endpoint whose answer a test can switch. One selector thread serves it all;
`close` stops and joins it.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from collections.abc import Sequence
from ipaddress import IPv4Address

from nodeproxy import netns


class NodeServer:
    def __init__(
        self,
        name: str,
        namespace: str,
        *,
        tcp_ports: Sequence[int] = (),
        udp_ports: Sequence[int] = (),
        health_port: int | None = None,
    ) -> None:
        self.name = name
        self._ns = namespace
        self._selector = selectors.DefaultSelector()
        self._stopping = threading.Event()
        self.healthy = True
        self._health_socket: socket.socket | None = None
        self._health_port = health_port
        for port in tcp_ports:
            self._listen(port, "tcp")
        for port in udp_ports:
            sock = netns.make_socket(namespace, socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("0.0.0.0", port))
            sock.setblocking(False)
            self._selector.register(sock, selectors.EVENT_READ, "udp")
        if health_port is not None:
            self._health_socket = self._listen(health_port, "health")
        self._thread = threading.Thread(target=self._serve, name=f"node-server-{name}")
        self._thread.start()

    def _listen(self, port: int, kind: str) -> socket.socket:
        sock = netns.make_socket(self._ns, socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", port))
        sock.listen(512)
        sock.setblocking(False)
        self._selector.register(sock, selectors.EVENT_READ, kind)
        return sock

    def _serve(self) -> None:
        while not self._stopping.is_set():
            for key, _ in self._selector.select(timeout=0.1):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                with contextlib.suppress(OSError):
                    self._handle(sock, key.data)
        for key in list(self._selector.get_map().values()):
            assert isinstance(key.fileobj, socket.socket)
            key.fileobj.close()
        self._selector.close()

    def _handle(self, sock: socket.socket, kind: str) -> None:
        if kind == "udp":
            data, peer = sock.recvfrom(2048)
            sock.sendto(f"{self.name} {peer[0]}:{peer[1]}\n".encode(), peer)
        elif kind in ("tcp", "health"):
            conn, peer = sock.accept()
            conn.setblocking(False)
            self._selector.register(conn, selectors.EVENT_READ, f"{kind}-conn {peer[0]}:{peer[1]}")
        elif kind.startswith("tcp-conn"):
            data = sock.recv(65536)
            if not data:
                self._selector.unregister(sock)
                sock.close()
                return
            sock.sendall(f"{self.name} {kind.split()[1]}\n".encode())
        elif kind.startswith("health-conn"):
            sock.recv(4096)
            status = "200 OK" if self.healthy else "503 Service Unavailable"
            sock.sendall(f"HTTP/1.0 {status}\r\nContent-Length: 0\r\n\r\n".encode())
            self._selector.unregister(sock)
            sock.close()

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)


def tcp_ask(namespace: str, ip: IPv4Address, port: int, *, timeout: float = 2.0) -> str | None:
    """One connection, one message; the answer line, or None if it failed."""
    sock = netns.make_socket(namespace, socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect((str(ip), port))
        sock.sendall(b"hello")
        return sock.recv(1024).decode().strip() or None
    except OSError:
        return None
    finally:
        sock.close()


class TcpSession:
    """A long-lived connection that asks again and again (for draining tests)."""

    def __init__(self, namespace: str, ip: IPv4Address, port: int, timeout: float = 2.0) -> None:
        self.sock = netns.make_socket(namespace, socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect((str(ip), port))

    def ask(self) -> str | None:
        try:
            self.sock.sendall(b"again")
            return self.sock.recv(1024).decode().strip() or None
        except OSError:
            return None

    def close(self) -> None:
        self.sock.close()


def udp_ask(
    namespace: str,
    ip: IPv4Address,
    port: int,
    *,
    source_port: int = 0,
    timeout: float = 1.0,
) -> str | None:
    sock = netns.make_socket(namespace, socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", source_port))
        sock.settimeout(timeout)
        sock.connect((str(ip), port))
        sock.send(b"hello")
        return sock.recv(1024).decode().strip() or None
    except OSError:
        return None
    finally:
        sock.close()
