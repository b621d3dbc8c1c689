"""The HTTP endpoint: the Step Functions API over the awsJson1_0 protocol, for boto3, the AWS CLI and other SDKs.

Every request is ``POST /`` with ``X-Amz-Target: AWSStepFunctions.<Operation>`` and a JSON body; the answer is
200 with the operation's result (timestamps as epoch seconds), or 400 with ``{"__type": <error name>,
"message": ...}``. The server is a thin front over :class:`~asl.service.StepFunctions` (which checks each
request against the API model), with worker threads running the executions from the same durable store.

Any ``Host`` is served, so a client that sends StartSyncExecution and TestState to the ``sync-`` host prefix
reaches this server if that name resolves to it; SDKs usually need the prefix turned off
(``AWS_DISABLE_HOST_PREFIX_INJECTION=true``, or botocore's ``Config(inject_host_prefix=False)``).

Shutting down stops accepting requests, lets requests in progress finish and stops the workers at their next
commit; every execution a StartExecution accepted is in the store already, and resumes when a server or worker
opens that store again.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import re
import socket
import sys
import threading
import time
import uuid
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from . import jsontext
from .api import TARGET_PREFIX, encode
from .durable import Worker
from .service import ServiceError, StepFunctions

log = logging.getLogger("asl.server")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8083
# A definition may be 1,048,576 characters, which JSON escaping can make several times as many bytes.
MAX_BODY = 8 * 1024 * 1024
DEFAULT_IDLE_TIMEOUT = 60.0
"""Seconds a connection may wait for its next request (a kept-alive one, or a new one for its first) before the
server closes it: as a load balancer's idle timeout, long enough that an SDK's pool rarely needs to reconnect."""
DEFAULT_REQUEST_TIMEOUT = 30.0
"""Seconds from a request's first byte until all of it (request line, headers, body) has arrived, and for sending
the answer: a client that trickles its request or does not read the answer loses its connection after this."""
LISTEN_BACKLOG = 1024  # connections the kernel queues before the accept loop takes them (the stdlib's is 5)
INTERNAL_FAILURE = "asl failed on this request because of an internal error; the server log has the details"
_JSON_TYPE = "application/x-amz-json-1.0"


def _json_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON of a response. A string holding a lone surrogate cannot be UTF-8, so such a value is
    sent with every non-ASCII character escaped (``\\ud800``), which any JSON reader turns back into the same
    value: the answer is always sent, never lost to a UnicodeEncodeError."""
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":")).encode()


_date_cache: tuple[int, str] = (0, "")


def _http_date() -> str:
    """The Date header, formatted at most once a second."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True))
    return _date_cache[1]


class _DeadlineReader(io.RawIOBase):
    """A socket's bytes, each read waiting at most until ``deadline`` (a ``time.monotonic()`` value). A deadline
    per request rather than a timeout per read is what stops a client that sends one byte a second."""

    def __init__(self, sock: socket.socket):
        super().__init__()
        self.sock = sock
        self.deadline = math.inf
        self.timed_out = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            self.timed_out = True
            raise TimeoutError("the deadline passed")
        self.sock.settimeout(remaining)
        try:
            return self.sock.recv_into(buffer)
        except TimeoutError:
            self.timed_out = True
            raise


class _Writer(io.BufferedIOBase):
    """Writes go out whole (``sendall``); what the stdlib handler writes itself (100 Continue) goes through it."""

    def __init__(self, sock: socket.socket):
        super().__init__()
        self.sock = sock

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.sock.sendall(data)
        return len(data)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: SDKs reuse their connections
    # a request line without a version is answered with a status line and headers all the same (HTTP/0.9 has none)
    default_request_version = "HTTP/1.0"
    server: _HTTPServer

    def setup(self) -> None:
        """The connection's reader (with a deadline) and writer, in place of the stdlib's buffered files."""
        sock: socket.socket = self.request
        # Without this, Nagle's algorithm holds the end of an answer until the client acknowledges the segment
        # before it, and the client delays that acknowledgement for 40 ms: every kept-alive request took 44 ms.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connection = sock
        self._reader = _DeadlineReader(sock)
        self._buffered = io.BufferedReader(self._reader, 65536)
        self.rfile = self._buffered
        self.wfile = _Writer(sock)
        self._answered = False
        self.request_id = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.debug("%s " + format, self.address_string(), *args)

    def handle_one_request(self) -> None:
        """Wait up to the idle timeout for a request to begin, then give the whole request the request timeout."""
        server = self.server
        self._reader.deadline = time.monotonic() + server.idle_timeout
        with server.tracking(self.connection):  # idle: Server.stop may close it
            try:
                begun = self._buffered.peek(1)
            except (TimeoutError, OSError):  # idle too long, or the client went away: close without an answer
                begun = b""
        if not begun:
            self.close_connection = True
            return
        self._reader.deadline = time.monotonic() + server.request_timeout
        self._reader.timed_out = False
        self._answered = False
        self.request_id = str(uuid.uuid4())
        super().handle_one_request()  # a read that times out makes it give up on the connection
        if self._reader.timed_out and not self._answered:
            self.close_connection = True
            with contextlib.suppress(OSError):  # best effort: the client may read while it stalls its sending
                self._error(408, "RequestTimeout", f"The request did not arrive whole within "
                                                   f"{server.request_timeout:g} seconds", close=True, wait=1.0)

    def _send(self, status: int, data: bytes, close: bool = False, wait: float | None = None) -> None:
        """The answer in one write, status line, headers and body together."""
        head = (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nDate: {_http_date()}\r\nContent-Type: {_JSON_TYPE}\r\n"
                f"Content-Length: {len(data)}\r\nx-amzn-RequestId: {self.request_id or uuid.uuid4()}\r\n")
        if close or self.close_connection:
            head += "Connection: close\r\n"
            self.close_connection = True
        self._answered = True
        self.log_request(status, len(data))
        self.connection.settimeout(wait if wait is not None else self.server.request_timeout)
        # a HEAD answer has no body, whatever its Content-Length says
        self.wfile.write(head.encode("latin-1") + b"\r\n" + (b"" if self.command == "HEAD" else data))

    def _error(self, status: int, code: str, message: str, close: bool = False, wait: float | None = None) -> None:
        self._send(status, _json_bytes({"__type": code, "message": message}), close, wait)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Every error the stdlib answers itself (a garbage request line, a bad HTTP version, a header too long,
        an unknown method) in the API's JSON shape, not the stdlib's HTML page. The connection is closed, since
        after such a request the stream cannot be trusted."""
        status = HTTPStatus(code)
        text = message or status.description
        if len(text) > 300:  # the stdlib quotes the request line, which may be 64 KiB long
            text = text[:300] + "..."
        self.log_error("code %d, message %s", code, text)
        self._error(code, re.sub(r"[^A-Za-z0-9]", "", status.phrase), text, close=True)  # "HTTPVersionNotSupported"

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        raw = self._read_body()
        if raw is None:
            return
        target = self.headers.get("X-Amz-Target", "")
        if not target.startswith(TARGET_PREFIX):
            self._error(400, "UnknownOperationException",
                        f"The X-Amz-Target header must be {TARGET_PREFIX}<Operation>, got '{target[:200]}'")
            return
        operation = target[len(TARGET_PREFIX):]
        try:
            body = jsontext.loads(raw, "The request body") if raw.strip() else {}
        except jsontext.JsonLimitError as exc:
            self._error(400, "SerializationException", exc.message)
            return
        except ValueError as exc:  # bad syntax (JSONDecodeError), or bytes that are not UTF-8
            self._error(400, "SerializationException", f"The request body is not JSON: {exc}")
            return
        try:
            data = _json_bytes(encode(self.server.service.call(operation, body)))
        except ServiceError as exc:
            self._error(400, exc.code, exc.message)
            return
        except Exception:  # a bug: it must not take the server down, and its text goes to the log, not the client
            log.exception("%s failed (request %s)", operation, self.request_id)
            self._error(500, "InternalFailure", f"{INTERNAL_FAILURE} (request {self.request_id})")
            return
        self._send(200, data)

    def _read_body(self) -> bytes | None:
        """The body by its Content-Length, or None once an error has been answered."""
        length_text = (self.headers.get("Content-Length") or "").strip()
        if not (length_text.isascii() and length_text.isdigit()):
            self._error(411, "MissingContentLength", "A request needs a Content-Length header", close=True)
            return None
        length = int(length_text)
        if length > self.server.max_body:
            # Read and drop a body up to a few times the limit so the client sees the answer instead of a broken
            # pipe; a larger one is not read at all (closing the connection is the only safe way to skip it).
            left = length if length <= 4 * self.server.max_body else 0
            while left > 0:
                chunk = self.rfile.read(min(left, 1 << 16))
                if not chunk:
                    break
                left -= len(chunk)
            self._error(413, "RequestEntityTooLarge", f"The request body is {length} bytes; the limit is "
                                                      f"{self.server.max_body}", close=True)
            return None
        raw = self.rfile.read(length)
        if len(raw) < length:  # the client closed the connection in the middle of its body
            self.close_connection = True
            return None
        return raw

    def _not_allowed(self) -> None:
        self._error(405, "MethodNotAllowed", "The Step Functions API takes POST / requests (awsJson1_0)", close=True)

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _not_allowed  # noqa: N815


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a long poll (GetActivityTask) must not hold up shutdown
    allow_reuse_address = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, address: tuple[str, int], service: StepFunctions, max_body: int, idle_timeout: float,
                 request_timeout: float):
        self.service = service
        self.max_body = max_body
        self.idle_timeout = idle_timeout
        self.request_timeout = request_timeout
        self._idle: set[socket.socket] = set()
        self._idle_lock = threading.Lock()
        self._closing = False
        super().__init__(address, _Handler)

    def tracking(self, sock: socket.socket) -> _Idle:
        """A context in which ``sock`` waits for its next request, so that :meth:`close_idle` can close it."""
        return _Idle(self, sock)

    def close_idle(self) -> None:
        """Close every connection waiting for a request (their threads end); requests in progress finish."""
        with self._idle_lock:
            self._closing = True
            for sock in self._idle:
                with contextlib.suppress(OSError):  # already closed by its client
                    sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that goes away is routine; anything else is a bug, logged (the stdlib prints to stderr)."""
        exc = sys.exception()
        if isinstance(exc, ConnectionError | TimeoutError):
            log.debug("connection from %s ended: %r", client_address, exc)
        else:
            log.exception("error on the connection from %s", client_address)


class _Idle:
    def __init__(self, server: _HTTPServer, sock: socket.socket):
        self.server = server
        self.sock = sock

    def __enter__(self) -> None:
        with self.server._idle_lock:
            if self.server._closing:
                with contextlib.suppress(OSError):
                    self.sock.shutdown(socket.SHUT_RDWR)
            self.server._idle.add(self.sock)

    def __exit__(self, *exc: object) -> None:
        with self.server._idle_lock:
            self.server._idle.discard(self.sock)


class Server:
    """``asl serve``: the HTTP endpoint and ``workers`` worker threads over ``service``'s store.

    ``port=0`` picks a free port (see :attr:`url`). Use :meth:`start` and :meth:`stop`, or :meth:`serve_forever`.
    """

    def __init__(self, service: StepFunctions, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, workers: int = 2,
                 max_body: int = MAX_BODY, worker_options: dict[str, Any] | None = None,
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT, request_timeout: float = DEFAULT_REQUEST_TIMEOUT):
        if not (idle_timeout > 0 and request_timeout > 0):
            raise ValueError("the idle and request timeouts must be more than 0 seconds")
        self.service = service
        self.httpd = _HTTPServer((host, port), service, max_body, idle_timeout, request_timeout)
        opts = dict(worker_options or {})
        first = service.worker(**opts)
        self.workers: list[Worker] = [first] + [service.worker(owner=f"{first.owner}-{i}", **opts) for i in range(1, workers)]
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host if isinstance(host, str) else host.decode()}:{port}"

    def start(self) -> None:
        """Serve and run executions in background threads."""
        self._threads = [threading.Thread(target=w.run_forever, name=f"asl-worker-{i}", daemon=True)
                         for i, w in enumerate(self.workers)]
        self._threads.append(threading.Thread(target=self.httpd.serve_forever, name="asl-http", daemon=True))
        for t in self._threads:
            t.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop accepting requests and close idle connections (requests in progress finish), then stop the
        workers (each finishes the step it is in)."""
        self.httpd.shutdown()
        self.httpd.server_close()
        self.httpd.close_idle()
        for w in self.workers:
            w.stop()
        for t in self._threads:
            t.join(timeout)
        if self.service.adapters is not None:
            self.service.adapters.close()


__all__ = ["DEFAULT_HOST", "DEFAULT_IDLE_TIMEOUT", "DEFAULT_PORT", "DEFAULT_REQUEST_TIMEOUT", "INTERNAL_FAILURE",
           "LISTEN_BACKLOG", "MAX_BODY", "Server"]
