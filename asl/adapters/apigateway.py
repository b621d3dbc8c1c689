"""API Gateway: ``arn:aws:states:::apigateway:invoke`` (and ``.waitForTaskToken``) calls an API Gateway endpoint, as
Step Functions' optimized API Gateway integration does (developer guide, "Create API Gateway REST APIs with Step
Functions", connect-api-gateway).

Parameters: ``ApiEndpoint`` (the API's host name, ``<API ID>.execute-api.<region>.amazonaws.com``) and ``Method``
(required); ``Stage`` and ``Path`` (the URL is ``https://<ApiEndpoint>/<Stage>/<Path>``); ``Headers`` and
``QueryParameters`` (maps of lists of values); ``RequestBody`` (a JSON value, sent as JSON, or a string, sent as it
is); ``AllowNullValues`` (false: fields whose value is null are not sent); ``AuthType`` (``NO_AUTH``, ``IAM_ROLE``:
the request signed with SigV4 for ``execute-api`` with the environment's AWS credentials, ``RESOURCE_POLICY``).

Locally an ``ApiEndpoint`` may also be a full ``http://HOST:PORT`` URL (used as it is), and asl.toml's
``[apigateway]`` sends execute-api host names elsewhere: ``endpoint_url`` for all of them, ``[apigateway.endpoints]``
per host name. The Stage and Path are appended either way.

The result is ``{"Headers", "ResponseBody", "StatusCode", "StatusText"}``: headers as lists of values (named as the
endpoint sent them), the body parsed when it is JSON. A status that is not 2xx fails the Task with
``ApiGateway.<status>`` and the response body as the cause; no response (refused, unresolvable, timed out) with
``ApiGateway.SdkClientException``. Parameters AWS would not accept (a reserved header, a value of the wrong shape,
an unknown field) fail it with ``States.Runtime``, naming the field.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from http.client import HTTPException
from typing import Any, NoReturn

from ..errors import ConfigError, TaskFailed
from . import TaskRequest
from .http import METHODS, SOCKET_TIMEOUT, exchange, group_headers, parse_body, status_text

PARAMETERS = ("ApiEndpoint", "Method", "Headers", "Stage", "Path", "QueryParameters", "RequestBody",
              "AllowNullValues", "AuthType")
AUTH_TYPES = ("NO_AUTH", "IAM_ROLE", "RESOURCE_POLICY")
# "For security considerations, the following HTTP header keys are not currently permitted" (the developer guide)
RESERVED_HEADERS = frozenset({"authorization", "connection", "content-md5", "expect", "host", "max-forwards",
                              "proxy-authenticate", "server", "te", "transfer-encoding", "trailer", "upgrade", "via",
                              "www-authenticate"})
RESERVED_PREFIXES = ("x-forwarded", "x-amz", "x-amzn")
# "The API ID can only contain a combination of the following alphanumeric characters: 0123456789abcdef...xyz"
EXECUTE_API_HOST = re.compile(r"^[0-9a-z]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP header name (RFC 9110 token)
_PATH_SAFE = "/%:@!$&'()*+,;=~"  # kept as written in Stage and Path (already-escaped text stays so)


def _invalid(parameters: Any, message: str) -> NoReturn:
    """Parameters Step Functions would not start the Task with: States.Runtime, in its words, naming the field."""
    text = json.dumps(parameters, separators=(",", ":"), ensure_ascii=False, default=str)
    raise TaskFailed("States.Runtime", f"The Parameters '{text}' could not be used to start the Task: [{message}]")


def drop_nulls(value: Any) -> Any:
    """``value`` without the object fields whose value is null, at any depth (AllowNullValues false). Nulls inside
    arrays stay: the guide speaks of fields, and a serializer leaving out null fields keeps array elements."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)  # a number or a boolean, as its JSON text


def _multimap(p: dict[str, Any], name: str, allow_nulls: bool) -> list[tuple[str, str]]:
    """``Headers`` or ``QueryParameters``: a map of lists of values, as (name, value) pairs in order. A value that
    is not a list is AWS's "has an invalid format" (a string alone is not accepted, the guide's examples are lists).
    Null values are left out, or sent empty with AllowNullValues."""
    value = p.get(name)
    if value is None:
        return []
    if not isinstance(value, dict):
        _invalid(p, f"The value of the field '{name}' has an invalid format")
    pairs: list[tuple[str, str]] = []
    for key, values in value.items():
        items = [None] if values is None else values
        if not isinstance(items, list) or any(isinstance(v, dict | list) for v in items):
            _invalid(p, f"The value of the field '{name}' has an invalid format")
        pairs.extend((str(key), "" if v is None else _text(v)) for v in items if v is not None or allow_nulls)
    return pairs


def _headers(p: dict[str, Any], allow_nulls: bool) -> dict[str, str]:
    """The request headers: reserved names refused as AWS refuses them; several values of one name are sent as one
    comma-separated field, which HTTP defines as the same thing (RFC 9110, 5.3)."""
    pairs = _multimap(p, "Headers", allow_nulls)
    reserved = sorted({k.lower() for k, _ in pairs if k.lower() in RESERVED_HEADERS or k.lower().startswith(RESERVED_PREFIXES)})
    if reserved:
        _invalid(p, f"The 'Headers' field contains unsupported values: [{', '.join(reserved)}]")
    headers: dict[str, str] = {}
    names: dict[str, str] = {}  # lower-cased name -> the first spelling (names are case-insensitive)
    for k, v in pairs:
        if not _TOKEN.match(k):
            _invalid(p, f"The 'Headers' field contains an invalid header name: {json.dumps(k)}")
        if any(c in v for c in "\r\n\0"):
            _invalid(p, f"The value of the header '{k}' in the field 'Headers' contains a line break")
        name = names.setdefault(k.lower(), k)
        headers[name] = f"{headers[name]}, {v}" if name in headers else v
    return headers


def _body(p: dict[str, Any], method: str, allow_nulls: bool) -> bytes | None:
    """The request body: a string as it is, any other JSON value as JSON text; none for a GET or HEAD (the guide's
    GET example carries an empty RequestBody; HTTP gives a GET body no meaning and CloudFront refuses one)."""
    if "RequestBody" not in p or method in ("GET", "HEAD"):
        return None
    body = p["RequestBody"] if allow_nulls else drop_nulls(p["RequestBody"])
    if body is None and not allow_nulls:
        return None
    text = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return text.encode()


@dataclass(frozen=True)
class Call:
    """The HTTP request an apigateway:invoke Task makes."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    auth: str
    region: str  # for SigV4: the region of the execute-api host, else the execution's


class ApiGatewayInvoke:
    """The adapter for ``arn:aws:states:::apigateway:invoke`` (and ``.waitForTaskToken``). ``endpoints`` maps an
    execute-api host name to the URL that stands for it locally; ``endpoint_url`` stands for every other one."""

    def __init__(self, endpoints: Mapping[str, str] | None = None, endpoint_url: str | None = None):
        self.endpoints = dict(endpoints or {})
        self.endpoint_url = endpoint_url
        self._session: Any = None
        self._lock = threading.Lock()

    def register_in(self, adapters: Any) -> None:
        adapters.register("arn:*:states:::apigateway:invoke", self)
        adapters.register("arn:*:states:::apigateway:invoke.waitForTaskToken", self)

    def base_url(self, p: dict[str, Any]) -> tuple[str, str | None]:
        """Where ``ApiEndpoint`` leads (scheme, host, port and any base path, no trailing slash), and the region
        its execute-api host name names (None for a local URL)."""
        endpoint = p.get("ApiEndpoint")
        if not isinstance(endpoint, str) or not endpoint:
            _invalid(p, "The field 'ApiEndpoint' is required and must be a string")
        if endpoint in self.endpoints:
            host = EXECUTE_API_HOST.match(endpoint)
            return self.endpoints[endpoint].rstrip("/"), host.group(1) if host else None
        if endpoint.startswith(("http://", "https://")):  # local: a full URL, as it is
            parts = urllib.parse.urlsplit(endpoint)
            if not parts.hostname or parts.query or parts.fragment or any(c.isspace() for c in endpoint):
                _invalid(p, f"The field 'ApiEndpoint' is not a usable URL: {json.dumps(endpoint)}")
            return endpoint.rstrip("/"), None
        host = EXECUTE_API_HOST.match(endpoint)
        if host is None:
            _invalid(p, "The field 'ApiEndpoint' must be the host name of an API Gateway API, "
                        f"<API ID>.execute-api.<region>.amazonaws.com (locally also an http:// URL), not {json.dumps(endpoint)}")
        return (self.endpoint_url.rstrip("/") if self.endpoint_url else f"https://{endpoint}"), host.group(1)

    def build(self, p: dict[str, Any], region: str) -> Call:
        """The request the Task's parameters describe, or States.Runtime naming the field AWS would refuse."""
        unknown = [k for k in p if k not in PARAMETERS]
        if unknown:
            _invalid(p, f"The field '{unknown[0]}' is not supported by Step Functions")
        base, host_region = self.base_url(p)
        method = p.get("Method")
        if method not in METHODS:
            _invalid(p, f"The field 'Method' must be one of {', '.join(METHODS)}, not {json.dumps(method)}")
        allow_nulls = p.get("AllowNullValues", False)
        if not isinstance(allow_nulls, bool):
            _invalid(p, "The field 'AllowNullValues' must be a boolean")
        auth = p.get("AuthType") or "NO_AUTH"
        if auth not in AUTH_TYPES:
            _invalid(p, f"The field 'AuthType' must be one of {', '.join(AUTH_TYPES)}, not {json.dumps(auth)}")
        for name in ("Stage", "Path"):
            if p.get(name) is not None and not isinstance(p[name], str):
                _invalid(p, f"The field '{name}' must be a string")
        url, stage = base, (p.get("Stage") or "").strip("/")
        if stage:  # "optional for any HTTP API that uses the $default stage"
            url += "/" + urllib.parse.quote(stage, safe=_PATH_SAFE)
        url += "/" + urllib.parse.quote((p.get("Path") or "").lstrip("/"), safe=_PATH_SAFE)
        query = _multimap(p, "QueryParameters", allow_nulls)
        if query:
            url += "?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote)
        headers = _headers(p, allow_nulls)
        body = _body(p, method, allow_nulls)
        if body is not None and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
        return Call(method, url, headers, body, auth, host_region or region)

    def sign(self, call: Call) -> dict[str, str]:
        """The headers of ``call`` with a SigV4 signature for ``execute-api`` (AuthType IAM_ROLE): on AWS the state
        machine's role signs; here the credentials botocore finds (environment, profile, ...)."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.session import Session

        with self._lock:
            if self._session is None:
                self._session = Session()
            credentials = self._session.get_credentials()
        if credentials is None:
            raise TaskFailed("States.Runtime", "AuthType IAM_ROLE signs the request with AWS credentials (SigV4), and "
                                               "none were found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile")
        aws = AWSRequest(method=call.method, url=call.url, data=call.body or b"", headers=call.headers)
        SigV4Auth(credentials, "execute-api", call.region).add_auth(aws)
        return {k: v for k, v in aws.headers.items()}

    def invoke(self, request: TaskRequest) -> Any:
        p = request.parameters
        if not isinstance(p, dict):
            _invalid(p, "The Parameters must be a JSON object")
        call = self.build(p, request.region)
        headers = self.sign(call) if call.auth == "IAM_ROLE" else call.headers
        # RESOURCE_POLICY: AWS authenticates Step Functions itself to the API; locally there is no such principal,
        # and the request goes unsigned, as with NO_AUTH.
        req = urllib.request.Request(call.url, data=call.body, headers=headers, method=call.method)
        timeout = min(SOCKET_TIMEOUT, request.timeout) if request.timeout else SOCKET_TIMEOUT
        try:
            # "A status code of 2XX indicates success ... All other status codes ... will result in an error": a
            # redirect is not followed, it is the reply
            reply = exchange(req, timeout, follow_redirects=False)
        except (OSError, HTTPException) as exc:
            # The guide names such errors ApiGateway.<Exception> without naming the exceptions. SdkClientException
            # is the name Step Functions gives a failed client call of its other integrations (Lambda.
            # SdkClientException in its retry advice), with the AWS SDK's cause; asl's AWS adapters use it too.
            why = getattr(exc, "reason", None) or exc
            raise TaskFailed("ApiGateway.SdkClientException", f"Unable to execute HTTP request: {why}") from None
        except ValueError as exc:  # a URL or header http.client will not send
            _invalid(p, f"The request to {call.url} cannot be sent: {exc}")
        if not 200 <= reply.status < 300:
            # "If the HTTP status code is available, then the error will be returned in the format
            # ApiGateway.<HTTP Status Code>"; the guide's example cause is the response body
            raise TaskFailed(f"ApiGateway.{reply.status}", reply.body.decode("utf-8", "replace"))
        return {"Headers": group_headers(reply.headers), "ResponseBody": parse_body(reply.body),
                "StatusCode": reply.status, "StatusText": status_text(reply.status) or reply.reason}


def from_config(table: Any, where: str) -> ApiGatewayInvoke:
    """asl.toml's ``[apigateway]``: ``endpoint_url`` (where every execute-api host name goes) and
    ``[apigateway.endpoints]`` (host name = URL, each); a :class:`ConfigError` naming the key otherwise."""
    if not isinstance(table, dict) or set(table) - {"endpoint_url", "endpoints"}:
        raise ConfigError(f"{where}: expected a table with endpoint_url and [apigateway.endpoints]")
    url = table.get("endpoint_url")
    if url is not None and not _is_url(url):
        raise ConfigError(f"{where}.endpoint_url: expected an http:// or https:// URL, got {url!r}")
    endpoints = table.get("endpoints", {})
    if not isinstance(endpoints, dict):
        raise ConfigError(f"{where}.endpoints: expected a table of host name = URL")
    for host, target in endpoints.items():
        if not _is_url(target):
            raise ConfigError(f"{where}.endpoints.{host}: expected an http:// or https:// URL, got {target!r}")
    return ApiGatewayInvoke(endpoints, url)


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://")) and bool(urllib.parse.urlsplit(value).hostname)
