"""A loopback HTTP server for the download tests: no internet, full control of what the client sees.

It serves byte strings by path, honours ``Range: bytes=N-`` (unless told not to), records every
request (path and Range header), and can misbehave on purpose: cut the connection half-way through
a file once, or hold a transfer half-way until the test releases it.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Behaviour:
    """What the server does for one path."""

    body: bytes
    ranges: bool = True  # honour Range requests (else always 200 with the whole body)
    cut_once: bool = False  # the first request gets half the body, then the connection closes
    hold: threading.Event | None = None  # stop half-way until this event is set
    status: int = 200  # anything else: answer with this status and no file
    cut_done: bool = field(default=False, repr=False)


class LoopbackServer:
    """``with LoopbackServer() as server: server.files["/a"] = Behaviour(b"...")``; ``server.url("/a")``."""

    def __init__(self) -> None:
        self.files: dict[str, Behaviour] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.request_seen = threading.Event()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:
                server._serve(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{path}"

    def count(self, path: str) -> int:
        with self._lock:
            return sum(p == path for p, _ in self.requests)

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for behaviour in self.files.values():
            if behaviour.hold is not None:
                behaviour.hold.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        path, range_header = handler.path, handler.headers.get("Range")
        with self._lock:
            self.requests.append((path, range_header))
        self.request_seen.set()
        behaviour = self.files.get(path)
        if behaviour is None or behaviour.status != 200:
            status = 404 if behaviour is None else behaviour.status
            handler.send_response(status)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        body, start = behaviour.body, 0
        if range_header and behaviour.ranges:
            start = int(range_header.removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                handler.send_response(416)
                handler.send_header("Content-Range", f"bytes */{len(body)}")
                handler.send_header("Content-Length", "0")
                handler.end_headers()
                return
            handler.send_response(206)
            handler.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            handler.send_response(200)
            handler.send_header("Accept-Ranges", "bytes" if behaviour.ranges else "none")
        rest = body[start:]
        handler.send_header("Content-Length", str(len(rest)))
        handler.end_headers()
        half = len(rest) // 2
        if behaviour.cut_once and not behaviour.cut_done:
            behaviour.cut_done = True
            handler.wfile.write(rest[:half])
            handler.wfile.flush()
            handler.connection.shutdown(socket.SHUT_RDWR)  # the client sees a connection reset mid-file
            handler.close_connection = True
            return
        if behaviour.hold is not None:
            handler.wfile.write(rest[:half])
            handler.wfile.flush()
            behaviour.hold.wait(timeout=60)
            rest = rest[half:]
        handler.wfile.write(rest)
        handler.wfile.flush()


def closed_port_url(path: str) -> str:
    """A loopback URL nothing listens on: connecting fails at once, as with no network."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"
