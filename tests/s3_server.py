"""An S3-compatible server (moto's server mode) on 127.0.0.1, for the object-storage tests.

    python tests/s3_server.py [--timeout SECONDS] [--log FILE] [--lose-answers REGEX]

Prints the port it listens on (a free one) as the first line on stdout, then
serves S3 requests until ``--timeout`` seconds have passed or its parent
process goes away. It runs in its own process. moto keeps its buckets in
memory: they live as long as this process.

SIGUSR1 stops the server answering, SIGUSR2 makes it answer again: while
stopped, it closes each request's connection as the request arrives, without
reading or doing it, as a crashed server or a cut network does to a client.
(A process stopped by SIGSTOP models an outage badly: the kernel still accepts
connections and holds the requests, which the server then carries out on
SIGCONT, long after the client gave up on them.) The state survives the
outage, so that a test can look at what the outage left.

With ``--lose-answers``, a request whose ``METHOD /path?query`` matches REGEX
is carried out, but its answer is lost: the connection closes instead, as
when a network fails between the server and the client.

With ``--log``, each request that is carried out appends a line to FILE
(werkzeug's: ``"PUT /bucket/key?uploads HTTP/1.1" 200 -``).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import signal
import socket
import threading
import time

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

#: Whether the server answers requests (SIGUSR1 clears it, SIGUSR2 sets it).
answering = threading.Event()
answering.set()


def outage(app, lose: re.Pattern | None = None):
    """The moto application, or a dropped connection while the server is stopped."""

    def drop(environ) -> None:
        connection = environ.get("werkzeug.socket")
        if connection is not None:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def application(environ, start_response):
        request = f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '')}?" \
                  f"{environ.get('QUERY_STRING', '')}"
        if lose is not None and lose.search(request):
            b"".join(app(environ, lambda *args, **kwargs: None))  # carried out
            drop(environ)
            start_response("500 Internal Server Error", [("Content-Length", "0")])
            return [b""]
        if not answering.is_set():
            drop(environ)
            start_response("503 Service Unavailable", [("Content-Length", "0")])
            return [b""]
        return app(environ, start_response)

    return application


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--log", default=None)
    parser.add_argument("--lose-answers", default=None, metavar="REGEX")
    args = parser.parse_args()
    requests = logging.getLogger("werkzeug")
    requests.propagate = False  # nothing on stderr
    if args.log:
        requests.setLevel(logging.INFO)
        requests.addHandler(logging.FileHandler(args.log))
    else:
        requests.setLevel(logging.CRITICAL)
    signal.signal(signal.SIGUSR1, lambda *_: answering.clear())
    signal.signal(signal.SIGUSR2, lambda *_: answering.set())
    lose = re.compile(args.lose_answers) if args.lose_answers else None
    app = outage(DomainDispatcherApplication(create_backend_app), lose)
    server = make_server("127.0.0.1", 0, app, threaded=True,
                         request_handler=MotoRequestHandler)
    print(server.server_address[1], flush=True)
    parent, deadline = os.getppid(), time.monotonic() + args.timeout

    def watch() -> None:
        while time.monotonic() < deadline and os.getppid() == parent:
            time.sleep(0.2)
        server.shutdown()

    threading.Thread(target=watch, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
