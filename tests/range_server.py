"""A tiny HTTP server with Range support, for the remote-input tests.

    python tests/range_server.py ROOT LOG [--timeout SECONDS] [--proxy CERT KEY]

Serves the files under ROOT on 127.0.0.1 (a free port, printed as the first
line on stdout), answering ``Range: bytes=a-b`` (and several ranges, as
multipart/byteranges) with 206. Every response appends a line to LOG:
``METHOD PATH STATUS BYTES RANGE``, BYTES being the body's length, so a
test can count what a client fetched. It runs in its own process (GDAL may hold the
GIL during network reads) and stops by itself after ``--timeout`` seconds or
when its parent process goes away.

With ``--proxy``, it is also an HTTP proxy that serves every host itself, so
that documentation examples run with the URLs they show: a client whose proxy
is this server (``GDAL_HTTP_PROXY=127.0.0.1:PORT``) asking for
``http://example.com/dem/n45.tif`` gets ROOT/example.com/dem/n45.tif; for
``https://`` it answers CONNECT and speaks TLS with the certificate CERT and
key KEY (a self-signed one: the client must not verify it,
``GDAL_HTTP_UNSAFESSL=YES``).
"""

from __future__ import annotations

import argparse
import os
import re
import ssl
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

_RANGE = re.compile(r"(\d*)-(\d*)")
_BOUNDARY = "range-server-boundary"


class Handler(BaseHTTPRequestHandler):
    root: Path
    log: Path
    tls: ssl.SSLContext | None = None  # set in proxy mode
    lock = threading.Lock()
    protocol_version = "HTTP/1.1"
    _host = ""  # the host a CONNECT tunnel was opened to

    def log_message(self, *args) -> None:  # quiet: the LOG file is the record
        pass

    def _record(self, status: int, nbytes: int) -> None:
        with self.lock, open(self.log, "a") as f:
            ranges = self.headers.get("Range", "-").replace(" ", "")
            f.write(f"{self.command} {self.path} {status} {nbytes} {ranges}\n")

    def _file(self) -> Path | None:
        url = urlsplit(self.path)
        host = url.hostname or self._host if self.tls is not None else ""
        path = (self.root / host / unquote(url.path).lstrip("/")).resolve()
        if self.root not in path.parents or not path.is_file():
            return None
        return path

    def _ranges(self, size: int) -> list[tuple[int, int]] | None:
        header = self.headers.get("Range")
        if not header or not header.startswith("bytes="):
            return None
        ranges = []
        for part in header[len("bytes="):].split(","):
            m = _RANGE.fullmatch(part.strip())
            if m is None:
                return None
            a, b = m.groups()
            if a == "":  # the last b bytes
                start, stop = max(size - int(b), 0), size - 1
            else:
                start, stop = int(a), min(int(b) if b else size - 1, size - 1)
            ranges.append((start, stop))
        return ranges

    def _send(self, status: int, headers: dict, body: bytes) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        sent = 0
        if self.command != "HEAD":
            self.wfile.write(body)
            sent = len(body)
        self._record(status, sent)

    def do_CONNECT(self) -> None:
        """Proxy mode: a tunnel for https, answered here in TLS."""
        if self.tls is None:
            self._send(HTTPStatus.METHOD_NOT_ALLOWED, {}, b"not a proxy")
            return
        self._host = self.path.rsplit(":", 1)[0]
        self.send_response(HTTPStatus.OK)
        self.end_headers()
        self.wfile.flush()
        self.connection = self.tls.wrap_socket(self.connection, server_side=True)
        self.rfile = self.connection.makefile("rb")
        self.wfile = self.connection.makefile("wb", buffering=0)
        self.close_connection = False
        while not self.close_connection:
            self.handle_one_request()

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        path = self._file()
        if path is None:
            self._send(HTTPStatus.NOT_FOUND, {}, b"not found")
            return
        data = path.read_bytes()
        size = len(data)
        ranges = self._ranges(size)
        if ranges is None:
            self._send(HTTPStatus.OK, {"Accept-Ranges": "bytes"}, data)
            return
        if any(start > stop or start >= size for start, stop in ranges):
            self._send(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE,
                       {"Content-Range": f"bytes */{size}"}, b"")
            return
        if len(ranges) == 1:
            start, stop = ranges[0]
            self._send(HTTPStatus.PARTIAL_CONTENT, {
                "Accept-Ranges": "bytes",
                "Content-Range": f"bytes {start}-{stop}/{size}",
            }, data[start:stop + 1])
            return
        parts = []
        for start, stop in ranges:
            parts.append(
                f"--{_BOUNDARY}\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Range: bytes {start}-{stop}/{size}\r\n\r\n".encode()
                + data[start:stop + 1] + b"\r\n"
            )
        parts.append(f"--{_BOUNDARY}--\r\n".encode())
        self._send(HTTPStatus.PARTIAL_CONTENT, {
            "Content-Type": f"multipart/byteranges; boundary={_BOUNDARY}",
        }, b"".join(parts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("log", type=Path)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--proxy", nargs=2, type=Path, metavar=("CERT", "KEY"))
    args = parser.parse_args()
    Handler.root, Handler.log = args.root.resolve(), args.log
    if args.proxy:
        Handler.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        Handler.tls.load_cert_chain(*args.proxy)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    parent, deadline = os.getppid(), time.monotonic() + args.timeout

    def watch() -> None:
        while time.monotonic() < deadline and os.getppid() == parent:
            time.sleep(0.2)
        server.shutdown()

    threading.Thread(target=watch, daemon=True).start()
    server.serve_forever()
    sys.exit(0)


if __name__ == "__main__":
    main()
