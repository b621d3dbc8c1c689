"""HTTP Tasks: ``arn:aws:states:::http:invoke`` calls an HTTPS (or, locally, HTTP) endpoint, as Step Functions'
HTTP Task does.

Parameters: ``ApiEndpoint`` and ``Method`` (required), ``Headers``, ``QueryParameters``, ``RequestBody`` (a JSON
value: sent as JSON, or form-encoded with ``Transform.RequestBodyEncoding`` ``URL_ENCODED`` and
``RequestEncodingOptions.ArrayFormat`` BRACKETS, COMMAS, INDICES or REPEAT), and the EventBridge connection that
authorizes the call (``Authentication.ConnectionArn`` or ``InvocationConfig.ConnectionArn``). Locally a connection
is given in asl.toml (``[http.connections.NAME]``, by its name or its ARN): an API key header, basic
authentication, or a bearer token, and headers and query parameters added to every call.

The result is ``{"Headers", "ResponseBody", "StatusCode", "StatusText"}``: headers as lists of values, the body
parsed when it is JSON. A response that is not 2xx fails the Task with ``States.Http.StatusCode.<code>`` and the
status text as the cause; an endpoint that cannot be reached, or does not answer within 60 seconds, with
``States.Http.Socket``.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from ..errors import TaskFailed
from . import TaskRequest

METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")
SOCKET_TIMEOUT = 60.0  # seconds an HTTP Task waits for its endpoint (then States.Http.Socket)


@dataclass(frozen=True)
class Connection:
    """A local stand-in for an EventBridge connection: how it authorizes, and what it adds to each call."""

    name: str
    authorization: str = "NONE"  # API_KEY, BASIC, OAUTH_CLIENT_CREDENTIALS (a token given locally) or NONE
    api_key_name: str = ""
    api_key_value: str = ""
    username: str = ""
    password: str = ""
    token: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)

    def apply(self, headers: dict[str, str], query: list[tuple[str, str]]) -> None:
        if self.authorization == "API_KEY":
            headers[self.api_key_name] = self.api_key_value
        elif self.authorization == "BASIC":
            pair = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            headers["Authorization"] = f"Basic {pair}"
        elif self.authorization == "OAUTH_CLIENT_CREDENTIALS":
            headers["Authorization"] = f"Bearer {self.token}"
        headers.update(self.headers)
        query.extend(self.query.items())


def _failed(error: str, cause: str) -> TaskFailed:
    return TaskFailed(error, cause)


def encode_form(body: Any, array_format: str) -> str:
    """A JSON object as ``application/x-www-form-urlencoded``, arrays as ``ArrayFormat`` says."""
    pairs: list[tuple[str, str]] = []

    def text(v: Any) -> str:
        return v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))

    def add(key: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                add(f"{key}[{k}]", v)
        elif isinstance(value, list):
            if array_format == "COMMAS":
                pairs.append((key, ",".join(text(v) for v in value)))
            else:
                for i, v in enumerate(value):
                    add({"BRACKETS": f"{key}[]", "INDICES": f"{key}[{i}]"}.get(array_format, key), v)
        else:
            pairs.append((key, text(value)))

    if not isinstance(body, dict):
        raise _failed("States.Runtime", "A RequestBody encoded as URL_ENCODED must be a JSON object")
    for k, v in body.items():
        add(k, v)
    return urllib.parse.urlencode(pairs)


class HttpInvoke:
    """The adapter for ``arn:aws:states:::http:invoke``, with the connections configured locally."""

    def __init__(self, connections: Mapping[str, Connection] | None = None):
        self.connections = dict(connections or {})

    def register_in(self, adapters: Any) -> None:
        adapters.register("arn:*:states:::http:invoke", self)

    def connection(self, arn: Any) -> Connection | None:
        """The connection an ARN (``arn:aws:events:REGION:ACCOUNT:connection/NAME/ID``) or a name refers to."""
        if not isinstance(arn, str):
            return None
        name = arn.split(":connection/", 1)[1].split("/", 1)[0] if ":connection/" in arn else arn
        return self.connections.get(arn) or self.connections.get(name)

    def invoke(self, request: TaskRequest) -> Any:
        p = request.parameters if isinstance(request.parameters, dict) else {}
        endpoint, method = p.get("ApiEndpoint"), p.get("Method")
        if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
            raise _failed("States.Runtime", f"The ApiEndpoint must be an HTTPS URL, not {json.dumps(endpoint)}")
        if method not in METHODS:
            raise _failed("States.Runtime", f"The Method must be one of {', '.join(METHODS)}, not {json.dumps(method)}")
        headers = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in (p.get("Headers") or {}).items()}
        query = [(str(k), v if isinstance(v, str) else json.dumps(v)) for k, v in (p.get("QueryParameters") or {}).items()]
        arn = (p.get("InvocationConfig") or p.get("Authentication") or {}).get("ConnectionArn")
        conn = self.connection(arn)
        if conn is not None:
            conn.apply(headers, query)
        data = None
        if "RequestBody" in p and method not in ("GET", "HEAD"):
            transform = p.get("Transform") or {}
            if transform.get("RequestBodyEncoding") == "URL_ENCODED":
                options = transform.get("RequestEncodingOptions") or {}
                data = encode_form(p["RequestBody"], options.get("ArrayFormat", "BRACKETS")).encode()
                headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
            else:
                sent = p["RequestBody"]
                data = (sent if isinstance(sent, str) else json.dumps(sent, separators=(",", ":"))).encode()
                headers.setdefault("Content-Type", "application/json")
        url = endpoint + (("&" if "?" in endpoint else "?") + urllib.parse.urlencode(query) if query else "")
        req = urllib.request.Request(url, data=data, headers=headers, method=method)
        timeout = min(SOCKET_TIMEOUT, request.timeout) if request.timeout else SOCKET_TIMEOUT
        try:
            reply = exchange(req, timeout)
        except OSError as exc:  # refused, unresolvable, timed out
            why = getattr(exc, "reason", exc)
            raise _failed("States.Http.Socket", f"The HTTP Task could not reach {endpoint}: {why}") from None
        reason = reply.reason or status_text(reply.status)
        if not 200 <= reply.status < 300:
            raise _failed(f"States.Http.StatusCode.{reply.status}", reason)
        return {"Headers": group_headers(reply.headers, lower=True), "ResponseBody": parse_body(reply.body),
                "StatusCode": reply.status, "StatusText": reason}


# -- what the HTTP Task and the API Gateway integration (apigateway.py) share ----------------------------------------


@dataclass(frozen=True)
class Reply:
    """An HTTP response as a Task reads it: status, reason phrase, headers in order (repeats kept), raw body."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx is then the reply itself


_FOLLOWING = urllib.request.build_opener()
_NOT_FOLLOWING = urllib.request.build_opener(_NoRedirects())


def exchange(req: urllib.request.Request, timeout: float, follow_redirects: bool = True) -> Reply:
    """Send ``req`` and read the reply, whatever its status (a 4xx or 5xx is a Reply too). Raises OSError
    (``urllib.error.URLError`` among them) when no reply comes: refused, unresolvable, timed out."""
    opener = _FOLLOWING if follow_redirects else _NOT_FOLLOWING
    try:
        with opener.open(req, timeout=timeout) as resp:  # the definition's endpoint
            return Reply(resp.status, resp.reason or "", list(resp.headers.items()), resp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            body = exc.read() if exc.fp is not None else b""
            headers = list(exc.headers.items()) if exc.headers is not None else []
        return Reply(exc.code, str(exc.reason or ""), headers, body)


def group_headers(pairs: list[tuple[str, str]], lower: bool = False) -> dict[str, list[str]]:
    """Response headers as a map of lists of values, in order (names lower-cased if ``lower``)."""
    grouped: dict[str, list[str]] = {}
    for k, v in pairs:
        grouped.setdefault(k.lower() if lower else k, []).append(v)
    return grouped


def parse_body(raw: bytes) -> Any:
    """A response body: its JSON value when it is JSON text, else the text ("" when empty)."""
    text = raw.decode("utf-8", "replace")
    try:
        return json.loads(text) if text.strip() else ""
    except ValueError:
        return text


def status_text(code: int) -> str:
    """The standard reason phrase of an HTTP status code ("" for a code without one)."""
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return ""
