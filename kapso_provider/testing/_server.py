"""The simulator's HTTP layer: a threading HTTP/1.1 server on loopback that hands requests to the app.

It guards what a web page in the user's browser could abuse: a request whose ``Host`` is not a loopback
name (DNS rebinding) is answered 403, and every body is capped (``Content-Length`` or chunked).
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Protocol

from kapso_provider.testing._http import Outcome, Response, error
from kapso_provider.testing._loopback import host_is_loopback
from kapso_provider.testing._recording import Headers

if TYPE_CHECKING:
    from kapso_provider.testing._clock import Clock

__all__ = ["DEFAULT_MAX_BODY_BYTES", "App", "Server"]

#: The largest request body read by default, chunked or not: above the largest media upload WhatsApp
#: takes (100 MB documents), so the API's own size limits can be reached.
DEFAULT_MAX_BODY_BYTES = 110 * 1024 * 1024
_MAX_LINE = 64 * 1024


class App(Protocol):
    """What the server serves: the simulator."""

    @property
    def clock(self) -> Clock:
        """Kapso's clock, for the ``Date`` header."""
        ...

    @property
    def max_body_bytes(self) -> int:
        """The largest request body read."""
        ...

    def answer(self, method: str, target: str, headers: Headers, body: bytes) -> Outcome:
        """Answer one request (called on the server's threads)."""
        ...

    def wait(self, seconds: float) -> None:
        """Sleep, unless the simulator stops first."""
        ...


class _BodyError(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive: every answer has a Content-Length, as pooled clients need."""

    protocol_version = "HTTP/1.1"
    # A request line too broken to say its version is answered as HTTP/1.1 (status line, headers, Date)
    # rather than in HTTP/0.9's bare form, which a client cannot read a status from.
    default_request_version = "HTTP/1.1"
    server: Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; with Nagle on, the second waits for the client's
        # delayed ACK (about 40 ms per request on Linux).
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        # Silent on purpose: test output stays readable, and nothing about a request is ever logged.
        return

    def date_time_string(self, timestamp: float | None = None) -> str:
        # Every answer's Date header (errors included) is on Kapso's clock, as a real server's would be.
        return self.server.app.clock.http_date()

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunks()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise _BodyError(error(400, "Content-Length: is not a number")) from None
        if length < 0:
            raise _BodyError(error(400, "Content-Length: must not be negative"))
        if length > self.server.app.max_body_bytes:
            raise _BodyError(self._too_large())
        return self.rfile.read(length) if length else b""

    def _read_chunks(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(_MAX_LINE + 1)
            try:
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            except ValueError:
                raise _BodyError(error(400, "Transfer-Encoding: chunked: bad chunk size")) from None
            if size < 0 or len(line) > _MAX_LINE:
                raise _BodyError(error(400, "Transfer-Encoding: chunked: bad chunk size"))
            if size == 0:
                while self.rfile.readline(_MAX_LINE + 1) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            total += size
            # Refused before reading the chunk: a stream of chunks can never grow past the cap.
            if total > self.server.app.max_body_bytes:
                raise _BodyError(self._too_large())
            chunks.append(self.rfile.read(size))
            self.rfile.readline(_MAX_LINE + 1)

    def _too_large(self) -> Response:
        return error(413, f"body: larger than the simulator's limit of {self.server.app.max_body_bytes} bytes")

    def _handle(self) -> None:
        host = self.headers.get("Host")
        if host is not None and not host_is_loopback(host):
            # A page on another site reaching 127.0.0.1 through a name it controls (DNS rebinding).
            self.close_connection = True
            self._send(error(403, f"Host: {host!r} is not a loopback name; the simulator answers only loopback"))
            return
        try:
            body = self._read_body()
        except _BodyError as exc:
            # The rest of the body was not read: the connection cannot carry another request.
            self.close_connection = True
            self._send(exc.response)
            return
        app = self.server.app
        outcome = app.answer(self.command, self.path, Headers(self.headers.items()), body)
        app.wait(outcome.delay)
        if outcome.response is None:
            self._drop()
            return
        self._send(outcome.response)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _send(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(response.body)
        except OSError:
            # The client gave up (a read timeout against slow_after_store, say); nothing left to do.
            self.close_connection = True


class Server(ThreadingHTTPServer):
    """The listening socket and its handler threads.

    :param address: ``(host, port)`` to bind.
    :param app: what answers the requests.
    """

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, a DNS lookup that can stall on loopback.
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up (a dropped-connection fault, a read timeout, a stopped test) is expected
        # here; socketserver would print its traceback to stderr for each one. Anything else still prints.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def track(self, connection: socket.socket) -> None:
        """Remember an open connection, to close it on stop."""
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        """Forget a closed connection."""
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        """Shut every open connection: idle keep-alive ones would otherwise keep answering after stop()."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
