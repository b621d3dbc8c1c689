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

import json
import logging
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .api import TARGET_PREFIX, encode
from .durable import Worker
from .service import ServiceError, StepFunctions

log = logging.getLogger("asl.server")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8083
# A definition may be 1,048,576 characters, which JSON escaping can make several times as many bytes.
MAX_BODY = 8 * 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: SDKs reuse their connections
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, body: dict[str, Any], close: bool = False) -> None:
        data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, code: str, message: str, close: bool = False) -> None:
        self._send(status, {"__type": code, "message": message}, close)

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        length_text = self.headers.get("Content-Length")
        if length_text is None or not length_text.strip().isdigit():
            self._error(411, "MissingContentLength", "A request needs a Content-Length header", close=True)
            return
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
            return
        raw = self.rfile.read(length)
        target = self.headers.get("X-Amz-Target", "")
        if not target.startswith(TARGET_PREFIX):
            self._error(400, "UnknownOperationException",
                        f"The X-Amz-Target header must be {TARGET_PREFIX}<Operation>, got '{target}'")
            return
        operation = target[len(TARGET_PREFIX):]
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            self._error(400, "SerializationException", f"The request body is not JSON: {exc}")
            return
        try:
            result = self.server.service.call(operation, body)
        except ServiceError as exc:
            self._error(400, exc.code, exc.message)
            return
        except Exception as exc:  # a bug must not take the server down or show a traceback to the client
            log.exception("%s failed", operation)
            self._error(500, "InternalFailure", f"{operation} failed inside asl: {type(exc).__name__}: {exc}")
            return
        self._send(200, encode(result))

    def _not_allowed(self) -> None:
        self._error(405, "MethodNotAllowed", "The Step Functions API takes POST / requests (awsJson1_0)", close=True)

    do_GET = do_PUT = do_DELETE = do_PATCH = _not_allowed  # noqa: N815


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a long poll (GetActivityTask) must not hold up shutdown
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], service: StepFunctions, max_body: int):
        super().__init__(address, _Handler)
        self.service = service
        self.max_body = max_body


class Server:
    """``asl serve``: the HTTP endpoint and ``workers`` worker threads over ``service``'s store.

    ``port=0`` picks a free port (see :attr:`url`). Use :meth:`start` and :meth:`stop`, or :meth:`serve_forever`.
    """

    def __init__(self, service: StepFunctions, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, workers: int = 2,
                 max_body: int = MAX_BODY, worker_options: dict[str, Any] | None = None):
        self.service = service
        self.httpd = _HTTPServer((host, port), service, max_body)
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
        """Stop accepting requests, then stop the workers (each finishes the step it is in)."""
        self.httpd.shutdown()
        self.httpd.server_close()
        for w in self.workers:
            w.stop()
        for t in self._threads:
            t.join(timeout)
        if self.service.adapters is not None:
            self.service.adapters.close()


__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "MAX_BODY", "Server"]
