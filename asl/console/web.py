"""The console's GET routes in ``asl serve`` (the API stays ``POST /``):

- ``/``: state machines and recent executions, with ``?stateMachine=ARN&status=STATUS&name=TEXT&page=N``;
- ``/state-machines/<arn>``: a state machine's graph, definition and executions (``?status=&page=``);
- ``/executions/<arn>``: an execution, its graph coloured by what happened, history and states (``?state=NAME``);
- ``/state-machines/<arn>/graph.svg`` and ``/executions/<arn>/graph.svg``: the graph (:func:`asl.graph.render_svg`);
- ``/static/<file>``: the stylesheet and the script, with an ETag, and cached for a year when asked for by the
  ``?v=<hash>`` the pages link them with.

The pages are the same small document (:func:`asl.console.assets.page`); their script reads the data through the
Step Functions API, as the AWS CLI does. An ARN that names nothing is a 404 page, a malformed ARN or parameter a
400 page, the store being unavailable a 503 page: never a traceback.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from ..errors import ServiceError
from ..store import StoreError, StoreUnavailable
from .assets import asset, message_page, page

log = logging.getLogger("asl.console")

HTML_TYPE = "text/html; charset=utf-8"
STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE")
MAX_PAGE = 1_000_000
# The console's own script and stylesheet, and the graph's inline <style>; nothing else may load or run.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
IMMUTABLE = "public, max-age=31536000, immutable"


class Headers(Protocol):
    """A request's headers: a mapping, or the ``email.message.Message`` that http.server reads them into."""

    def get(self, name: str, default: Any = None, /) -> Any: ...


@dataclass
class Response:
    """What a GET route answers: status, body, content type and extra headers."""

    status: int
    body: bytes
    content_type: str = HTML_TYPE
    headers: dict[str, str] = field(default_factory=dict)


class BadRequest(Exception):
    """A parameter or path that cannot be served: its status (400 or 404), a title and a message."""

    def __init__(self, status: int, title: str, message: str):
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


def _html(status: int, text: str, headers: dict[str, str] | None = None) -> Response:
    return Response(status, text.encode(), HTML_TYPE, {"Cache-Control": "no-store", "Content-Security-Policy": CSP,
                                                       **(headers or {})})


def _error_page(status: int, title: str, message: str) -> Response:
    return _html(status, message_page(status, title, message))


def _cached(body: bytes, content_type: str, etag: str, request_headers: Headers, cache_control: str) -> Response:
    """A body with its ETag, or 304 when the client has it already."""
    headers = {"ETag": etag, "Cache-Control": cache_control}
    match = request_headers.get("If-None-Match") or ""
    if etag in [m.strip() for m in match.split(",")] or match.strip() == "*":
        return Response(304, b"", content_type, headers)
    return Response(200, body, content_type, headers)


def _query(raw: str, allowed: tuple[str, ...]) -> dict[str, str]:
    """The query's parameters: each known and given once, else a 400."""
    try:
        parsed = parse_qs(raw, keep_blank_values=True, strict_parsing=False, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise BadRequest(400, "Bad query", "The query string is not valid UTF-8 text") from None
    out: dict[str, str] = {}
    for key, values in parsed.items():
        if key not in allowed:
            known = ", ".join(allowed) if allowed else "none"
            raise BadRequest(400, "Bad query", f"Unknown query parameter '{key[:100]}' (this page takes: {known})")
        if len(values) != 1:
            raise BadRequest(400, "Bad query", f"The query parameter '{key}' is given {len(values)} times")
        out[key] = values[0]
    return out


def _checked(query: dict[str, str]) -> dict[str, Any]:
    """The values of the parameters the pages take, checked: a 400 names the bad one."""
    out: dict[str, Any] = {}
    for key, value in query.items():
        if value == "":
            continue
        if key == "status":
            if value not in STATUSES:
                raise BadRequest(400, "Bad query", f"status must be one of {', '.join(STATUSES)}; got '{value[:100]}'")
            out[key] = value
        elif key == "page":
            if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_PAGE:
                raise BadRequest(400, "Bad query", f"page must be a whole number from 1 to {MAX_PAGE}; got '{value[:100]}'")
            out[key] = int(value)
        elif key in ("name", "state"):
            if len(value) > 80:
                raise BadRequest(400, "Bad query", f"{key} is at most 80 characters long")
            out[key] = value
        else:  # stateMachine: an ARN, checked against the store by the caller
            if not value.startswith("arn:") or len(value) > 2048:
                raise BadRequest(400, "Bad query", f"{key} must be a state machine ARN; got '{value[:100]}'")
            out[key] = value
    return out


def _described(call: Callable[[], dict[str, Any]], what: str, arn: str) -> dict[str, Any]:
    """A Describe* call for the resource a URL names: an unknown ARN is a 404 page, a malformed one a 400 page."""
    try:
        return call()
    except ServiceError as exc:
        status = 400 if exc.code in ("InvalidArn", "ValidationException") else 404
        title = f"Not a {what} ARN" if status == 400 else f"No such {what}"
        raise BadRequest(status, title, f"{exc.message} ({exc.code})") from None


@functools.lru_cache(maxsize=64)
def _svg(definition: str) -> bytes:
    """The graph of a definition (laid out once per definition text)."""
    from ..graph import render_svg

    return render_svg(json.loads(definition)).encode()


def _graph(definition: str, request_headers: Headers) -> Response:
    try:
        svg = _svg(definition)
    except Exception:  # a definition the graph cannot draw: the page shows everything else
        ref = str(uuid.uuid4())
        log.exception("cannot draw the graph (reference %s)", ref)
        return _error_page(500, "No graph", f"The graph of this definition cannot be drawn (reference {ref}; the "
                                            "server log has the details)")
    etag = '"' + hashlib.sha256(svg).hexdigest()[:20] + '"'
    return _cached(svg, "image/svg+xml; charset=utf-8", etag, request_headers, "no-cache")


def _static(name: str, query: str, request_headers: Headers) -> Response:
    found = asset(name)
    if found is None:
        raise BadRequest(404, "Not found", f"There is no static file '{name[:100]}'")
    versioned = parse_qs(query).get("v") == [found.version]
    return _cached(found.body, found.content_type, found.etag, request_headers, IMMUTABLE if versioned else "no-cache")


def _resource(path: str, prefix: str) -> tuple[str, bool]:
    """The ARN after ``prefix`` in a path (percent-decoded), and whether the path asks for its graph.svg."""
    rest = path[len(prefix):]
    graph = rest.endswith("/graph.svg")
    if graph:
        rest = rest[: -len("/graph.svg")]
    arn = unquote(rest, errors="strict")
    if not arn:
        raise BadRequest(404, "Not found", "The URL names no ARN")
    return arn, graph


def route(service: Any, target: str, request_headers: Headers) -> Response:
    """The answer to ``GET target`` (HEAD is the same without the body, which the server leaves out)."""
    parts = urlsplit(target)
    path, raw_query = parts.path, parts.query
    if path.startswith("/static/"):
        return _static(path[len("/static/"):], raw_query, request_headers)
    if path == "/":
        query = _checked(_query(raw_query, ("stateMachine", "status", "name", "page")))
        if "stateMachine" in query:
            arn = query["stateMachine"]
            _described(lambda: service.describe_state_machine(stateMachineArn=arn, includedData="METADATA_ONLY"),
                       "state machine", arn)
        return _html(200, page("asl console", {"source": "api", "view": "list", "query": query}))
    if path.startswith("/state-machines/"):
        arn, graph = _resource(path, "/state-machines/")
        described = _described(lambda: service.describe_state_machine(stateMachineArn=arn), "state machine", arn)
        if graph:
            _query(raw_query, ())
            return _graph(described["definition"], request_headers)
        query = _checked(_query(raw_query, ("status", "page")))
        return _html(200, page(f"{described['name']} · asl console",
                               {"source": "api", "view": "stateMachine", "arn": arn, "query": query}))
    if path.startswith("/executions/"):
        arn, graph = _resource(path, "/executions/")
        if graph:
            _query(raw_query, ())
            definition = _described(lambda: service.describe_state_machine_for_execution(executionArn=arn),
                                    "execution", arn)["definition"]
            return _graph(definition, request_headers)
        described = _described(lambda: service.describe_execution(executionArn=arn, includedData="METADATA_ONLY"),
                               "execution", arn)
        query = _checked(_query(raw_query, ("state",)))
        return _html(200, page(f"{described['name']} · asl console",
                               {"source": "api", "view": "execution", "arn": arn, "query": query}))
    raise BadRequest(404, "Not found", f"Nothing is served at {path[:200]}: the console's pages are /, "
                                       "/state-machines/<arn> and /executions/<arn>")


def handle(service: Any, target: str, request_headers: Headers) -> Response:
    """:func:`route`, with every failure made a page: 400/404 for a bad URL, 503 while the store cannot be used,
    500 (a fixed sentence and a reference; the log has the details) for anything else."""
    try:
        return route(service, target, request_headers)
    except BadRequest as exc:
        return _error_page(exc.status, exc.title, exc.message)
    except UnicodeDecodeError:
        return _error_page(400, "Bad URL", "The URL's percent-encoded bytes are not UTF-8 text")
    except StoreUnavailable as exc:
        log.error("GET %s: %s", target[:200], exc)
        return _error_page(503, "Store unavailable", f"The store cannot be used now: {exc}")
    except StoreError as exc:
        log.error("GET %s: %s", target[:200], exc)
        return _error_page(500, "Store error", f"The store cannot be used: {exc}")
    except Exception:  # a bug: the log has it, the page says where to look
        ref = str(uuid.uuid4())
        log.exception("GET %s failed (reference %s)", target[:200], ref)
        return _error_page(500, "Internal error", f"asl failed on this page because of an internal error; the server "
                                                  f"log has the details (reference {ref})")


__all__ = ["Response", "handle", "route"]
