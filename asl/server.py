"""The HTTP endpoint: the Step Functions API over the awsJson1_0 protocol, for boto3, the AWS CLI and other SDKs.

Every request is ``POST /`` with ``X-Amz-Target: AWSStepFunctions.<Operation>`` and a JSON body; the answer is
200 with the operation's result (timestamps as epoch seconds), or 400 with ``{"__type": <error name>,
"message": ...}``. GET (and HEAD) serve the web console beside it (:mod:`asl.console.web`), whose pages read
their data through this same API. The server is a thin front over :class:`~asl.service.StepFunctions` (which checks each
request against the API model), with worker threads running the executions from the same durable store.

Any ``Host`` is served, so a client that sends StartSyncExecution and TestState to the ``sync-`` host prefix
reaches this server if that name resolves to it; SDKs usually need the prefix turned off
(``AWS_DISABLE_HOST_PREFIX_INJECTION=true``, or botocore's ``Config(inject_host_prefix=False)``).

Connections: the standard library's HTTP/1.1 parsing, with what a server facing any client needs around it.
Answers go out in one write with TCP_NODELAY (keep-alive stays: SDKs reuse their connections). The listen backlog
is :data:`LISTEN_BACKLOG`. A connection waits at most ``idle_timeout`` for its next request, and a request that
has begun must arrive whole within ``request_timeout`` (a deadline for all of it, so a client that trickles a
byte a second is cut off too). Connections with a request are served by a pool of reused threads (:class:`_Pool`);
between requests a kept-alive connection is parked in one selector thread (:class:`_Parking`) instead of holding
a thread. Every error, the stdlib's own included (a garbage request line, a header too long), is the JSON error
shape; a 500 says only a fixed sentence and the request id, and the log has the details.

Shutting down stops accepting requests, closes idle connections, lets requests in progress finish and stops the
workers at their next commit; every execution a StartExecution accepted is in the store already, and resumes
when a server or worker opens that store again.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import queue
import re
import selectors
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from . import console, jsontext
from .api import TARGET_PREFIX
from .durable import Worker
from .service import ServiceError, StepFunctions
from .store import StoreError, StoreUnavailable

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
PARK_AFTER = 0.1
"""Seconds a connection keeps its thread after an answer, waiting for the next request, before it is parked: an
SDK in a loop sends its next request well within this, so a busy connection keeps its thread and pays nothing."""
LISTEN_BACKLOG = 1024  # connections the kernel queues before the accept loop takes them (the stdlib's is 5)
INTERNAL_FAILURE = "asl failed on this request because of an internal error; the server log has the details"
_JSON_TYPE = "application/x-amz-json-1.0"


def _epoch(value: Any) -> Any:
    """A datetime in a result as awsJson1_0 sends it, epoch seconds (what :func:`asl.api.encode` makes): given to
    the JSON encoder as its ``default``, so a result is not walked and copied once more before it is encoded (a page
    of 1,000 history events took 20 ms to walk, about as long as to encode)."""
    if isinstance(value, datetime):
        return round(value.timestamp(), 3)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _json_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON of a response. A string holding a lone surrogate cannot be UTF-8, so such a value is
    sent with every non-ASCII character escaped (``\\ud800``), which any JSON reader turns back into the same
    value: the answer is always sent, never lost to a UnicodeEncodeError."""
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_epoch).encode()
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":"), default=_epoch).encode()


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
        self._buffered = io.BufferedReader(self._reader)
        self.rfile = self._buffered
        self.wfile = _Writer(sock)
        self._answered = False
        self.request_id = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.debug("%s " + format, self.address_string(), *args)

    def handle_one_request(self) -> None:
        """Wait a moment for a request to begin, then park the connection (see :class:`_Parking`) until the idle
        timeout; once a request has begun, the whole of it has the request timeout."""
        server = self.server
        now = time.monotonic()
        idle_deadline = now + server.idle_timeout
        self._reader.deadline = min(idle_deadline, now + server.park_after)
        with server.tracking(self.connection):  # idle: Server.stop may close it
            try:
                begun: bytes | None = self._buffered.peek(1)
            except TimeoutError:
                begun = None
            except OSError:  # the client went away
                begun = b""
        if not begun:
            if begun is None and server.park_after < server.idle_timeout:
                # nothing is buffered (peek would have returned it), so the socket alone carries the connection
                server.park_on_exit(self.connection, self.client_address, idle_deadline)
            self.close_connection = True  # this thread is done with the connection either way
            return
        self._reader.deadline = time.monotonic() + server.request_timeout
        self._reader.timed_out = False
        self._answered = False
        self.request_id = str(uuid.uuid4())
        # what the stdlib sets once it has read a request line: a request stalled within its first line is answered
        # (and logged) before there is one
        self.requestline, self.command, self.request_version = "", "", self.default_request_version
        super().handle_one_request()  # a read that times out makes it give up on the connection
        if self._reader.timed_out and not self._answered:
            self.close_connection = True
            with contextlib.suppress(OSError):  # best effort: the client may read while it stalls its sending
                self._error(408, "RequestTimeout", f"The request did not arrive whole within "
                                                   f"{server.request_timeout:g} seconds", close=True, wait=1.0)

    def _send(self, status: int, data: bytes, close: bool = False, wait: float | None = None,
              content_type: str = _JSON_TYPE, headers: Mapping[str, str] | None = None) -> None:
        """The answer in one write, status line, headers and body together."""
        head = (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nDate: {_http_date()}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(data)}\r\nx-amzn-RequestId: {self.request_id or uuid.uuid4()}\r\n")
        for name, value in (headers or {}).items():
            head += f"{name}: {value}\r\n"
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
            data = _json_bytes(self.server.service.call(operation, body))
        except ServiceError as exc:
            self._error(400, exc.code, exc.message)
            return
        except StoreUnavailable as exc:  # a full disk, a lock held too long: worth trying again, as SDKs do with a 503
            log.error("%s: %s (request %s)", operation, exc, self.request_id)
            self._error(503, "ServiceUnavailable", f"The store cannot be used now: {exc}")
            return
        except StoreError as exc:  # a damaged store: trying again will not help
            log.error("%s: %s (request %s)", operation, exc, self.request_id)
            self._error(500, "InternalFailure", f"The store cannot be used: {exc}")
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

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed  # noqa: N815

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        """The web console's pages and files (asl/console/web.py); HEAD is the same without the body."""
        length_text = (self.headers.get("Content-Length") or "0").strip()
        if not (length_text.isascii() and length_text.isdigit()) or int(length_text) > 65536:
            self._error(400, "BadRequest", "A GET request takes no body", close=True)
            return
        if int(length_text) and len(self.rfile.read(int(length_text))) < int(length_text):
            self.close_connection = True
            return
        response = console.handle(self.server.service, self.path, self.headers)
        self._send(response.status, response.body, content_type=response.content_type, headers=response.headers)

    do_HEAD = do_GET  # noqa: N815


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a long poll (GetActivityTask) must not hold up shutdown
    allow_reuse_address = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, address: tuple[str, int], service: StepFunctions, max_body: int, idle_timeout: float,
                 request_timeout: float, park_after: float):
        self.service = service
        self.max_body = max_body
        self.idle_timeout = idle_timeout
        self.request_timeout = request_timeout
        self.park_after = park_after
        self._idle: set[socket.socket] = set()
        self._idle_lock = threading.Lock()
        self._closing = False
        self._to_park: dict[socket.socket, tuple[Any, float]] = {}
        self.parking = _Parking(self._resume)
        self.pool = _Pool()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve a new or resumed connection on a pooled thread (the stdlib starts a thread per connection)."""
        self.pool.submit(self.process_request_thread, request, client_address)

    def tracking(self, sock: socket.socket) -> _Idle:
        """A context in which ``sock`` waits for its next request, so that :meth:`close_idle` can close it."""
        return _Idle(self, sock)

    def park_on_exit(self, sock: socket.socket, address: Any, deadline: float) -> None:
        """Park ``sock`` once its handler thread is done with it (in :meth:`shutdown_request`, which the thread
        calls last: parking any earlier could hand the socket to a second thread while the first still runs)."""
        self._to_park[sock] = (address, deadline)

    def shutdown_request(self, request: Any) -> None:
        parked = self._to_park.pop(request, None)
        if parked is None or not self.parking.park(request, *parked):
            super().shutdown_request(request)

    def _resume(self, sock: socket.socket, address: Any) -> None:
        """A parked connection has a request: a thread serves it, as a new connection's thread would."""
        try:
            self.process_request(sock, address)
        except Exception:  # no thread could be started: the client sees the connection close, the log says why
            log.exception("cannot serve the connection from %s", address)
            self.shutdown_request(sock)

    def close_idle(self) -> None:
        """Close every connection waiting for a request (their threads end, parked ones are closed); requests in
        progress finish."""
        with self._idle_lock:
            self._closing = True
            for sock in self._idle:
                with contextlib.suppress(OSError):  # already closed by its client
                    sock.shutdown(socket.SHUT_RDWR)
        self.parking.close()
        self.pool.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that goes away is routine; anything else is a bug, logged (the stdlib prints to stderr)."""
        exc = sys.exception()
        if isinstance(exc, ConnectionError | TimeoutError):
            log.debug("connection from %s ended: %r", client_address, exc)
        else:
            log.exception("error on the connection from %s", client_address)


class _Pool:
    """The threads that serve connections with a request. A thread that is done with a connection waits for the
    next one instead of ending: the store keeps a SQLite connection per thread, which costs about 0.35 ms to open
    and warm up, so a new thread per connection (the stdlib's way) paid that on every new or resumed connection.
    When all are busy a new thread starts (a long poll holds its thread for up to a minute, so there is no fixed
    size); threads beyond ``core`` end after ``keep`` idle seconds."""

    def __init__(self, core: int = 8, keep: float = 10.0):
        self.core = core
        self.keep = keep
        self._tasks: queue.SimpleQueue[tuple[Callable[..., None], tuple[Any, ...]] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0  # threads waiting for a task and not yet promised one
        self.threads = 0
        self._closed = False

    @property
    def busy(self) -> int:
        """Threads serving a connection (or about to)."""
        return self.threads - self._idle

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` on an idle thread, or on a new one if none is idle."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the server is shutting down")
            self._tasks.put((fn, args))
            if self._idle:
                self._idle -= 1  # promised to whichever idle thread takes the task first
                return
            self.threads += 1
        threading.Thread(target=self._work, name=f"asl-http-{self.threads}", daemon=True).start()

    def _work(self) -> None:
        while True:
            try:
                task = self._tasks.get(timeout=self.keep)
            except queue.Empty:
                with self._lock:
                    # with no idle thread left unpromised, a task is on its way to this one: wait for it
                    if self._idle and self.threads > self.core:
                        self._idle -= 1
                        self.threads -= 1
                        return
                continue
            if task is None:
                return
            fn, args = task
            fn(*args)  # socketserver's process_request_thread: it handles its own errors
            with self._lock:
                self._idle += 1

    def close(self) -> None:
        """End every thread once it has finished what it is doing."""
        with self._lock:
            self._closed = True
            for _ in range(self.threads):
                self._tasks.put(None)


class _Parking:
    """Kept-alive connections between requests, watched by one thread with a selector instead of a thread each
    (a thread costs about 150 KiB of memory; a parked connection, its socket). When one has a request, ``resume``
    gives it a thread; when its idle deadline passes, or the client closes it, it is closed here."""

    SWEEP = 0.5  # seconds between looks for connections past their idle deadline

    def __init__(self, resume: Callable[[socket.socket, Any], None]):
        self._resume = resume
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        # a byte on this pair wakes the selector for a new socket (needed where the selector is select() or poll())
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._parked: dict[socket.socket, tuple[Any, float]] = {}
        self._closed = False
        self._thread: threading.Thread | None = None

    def __len__(self) -> int:
        return len(self._parked)

    def park(self, sock: socket.socket, address: Any, deadline: float) -> bool:
        """Watch ``sock`` until it has a request or ``deadline`` passes; False once closed (the caller closes it)."""
        with self._lock:
            if self._closed:
                return False
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="asl-http-parking", daemon=True)
                self._thread.start()
            self._parked[sock] = (address, deadline)
            self._selector.register(sock, selectors.EVENT_READ)
        with contextlib.suppress(OSError):  # full: the selector is awake already
            self._wake_w.send(b"\0")
        return True

    def _run(self) -> None:
        swept = time.monotonic()
        while True:
            events = self._selector.select(timeout=self.SWEEP)
            ready: list[tuple[socket.socket, Any]] = []
            with self._lock:
                if self._closed:
                    return
                for key, _ in events:
                    sock = key.fileobj
                    if sock is self._wake_r:
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(4096)
                    elif isinstance(sock, socket.socket) and sock in self._parked:
                        self._selector.unregister(sock)
                        ready.append((sock, self._parked.pop(sock)[0]))
                now = time.monotonic()
                if now - swept >= self.SWEEP:
                    swept = now
                    for sock in [s for s, (_, deadline) in self._parked.items() if deadline <= now]:
                        self._selector.unregister(sock)
                        del self._parked[sock]
                        _close(sock)
            for sock, address in ready:
                if _closed_by_peer(sock):
                    _close(sock)
                else:
                    self._resume(sock, address)

    def close(self) -> None:
        """Close every parked connection and stop the thread."""
        with self._lock:
            self._closed = True
            for sock in self._parked:
                self._selector.unregister(sock)
                _close(sock)
            self._parked.clear()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")
        if self._thread is not None:
            self._thread.join(5)
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()


def _closed_by_peer(sock: socket.socket) -> bool:
    """Whether a socket the selector found readable holds only the client's end of file (or an error)."""
    try:
        sock.setblocking(False)
        return sock.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)
    sock.close()


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
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT, request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
                 park_after: float = PARK_AFTER):
        if not (idle_timeout > 0 and request_timeout > 0 and park_after > 0):
            raise ValueError("the idle and request timeouts and park_after must be more than 0 seconds")
        self.service = service
        self.httpd = _HTTPServer((host, port), service, max_body, idle_timeout, request_timeout, park_after)
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
           "LISTEN_BACKLOG", "MAX_BODY", "PARK_AFTER", "Server"]
