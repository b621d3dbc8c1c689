"""asl serve's HTTP layer under bad clients: kept-alive latency, the listen backlog, idle and stalled connections,
malformed requests, hostile bodies and internal errors. Real sockets against a real server (in this process,
so that a test can look at the server's side of a connection or make an operation fail), and boto3 where it fits.
No test here depends on a timing threshold: a timeout is checked by whether the server closed the connection at
all within a generous wait, never by how fast."""

from __future__ import annotations

import json
import os
import select
import socket
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from asl.server import INTERNAL_FAILURE, Server
from asl.service import StepFunctions
from asl.store import MemoryStore

TARGET = "AWSStepFunctions.ListStateMachines"
WAIT = 30.0  # how long a test waits for something the server must do within a second or two


@pytest.fixture
def server() -> Iterator[Server]:
    """An in-process server with short timeouts (1 s idle, 2 s per request)."""
    s = Server(StepFunctions(MemoryStore()), port=0, workers=1, idle_timeout=1.0, request_timeout=2.0)
    s.start()
    yield s
    s.stop()


def address(server: Server) -> tuple[str, int]:
    host, port = server.httpd.server_address[:2]
    return str(host), int(port)


def connect(server: Server) -> socket.socket:
    sock = socket.create_connection(address(server), timeout=WAIT)
    return sock


def request(body: bytes = b"{}", target: str = TARGET, extra: str = "") -> bytes:
    return (f"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: {target}\r\n"
            f"{extra}Content-Length: {len(body)}\r\n\r\n").encode() + body


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], Any]:
    """One HTTP answer from ``sock``: status, headers (lower-case names), the body parsed as JSON."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection without an answer (after {data!r})"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers["content-length"])
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection in the middle of its answer"
        body += chunk
    return int(lines[0].split()[1]), headers, json.loads(body)


def closed_by_server(sock: socket.socket, within: float = WAIT) -> bool:
    """Whether the server closes ``sock`` (an end of file, or a reset) within ``within`` seconds. Bytes it sends
    before closing (an error answer) are read and dropped."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if not sock.recv(65536):
                return True
        except TimeoutError:
            return False
        except ConnectionError:
            return True
    return False


def server_side(sock: socket.socket) -> socket.socket:
    """The server's end of the client socket ``sock``: the socket in this process whose peer is ``sock``."""
    want = sock.getsockname()
    for fd in os.listdir("/proc/self/fd"):
        try:
            candidate = socket.socket(fileno=os.dup(int(fd)))
        except OSError:
            continue
        try:
            if candidate.family == socket.AF_INET and candidate.type == socket.SOCK_STREAM \
                    and candidate.getpeername() == want:
                return candidate
        except OSError:
            pass
        candidate.close()
    raise AssertionError("no server-side socket found")


def client(server: Server) -> Any:
    host, port = address(server)
    return boto3.client("stepfunctions", endpoint_url=f"http://{host}:{port}", region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(inject_host_prefix=False, retries={"max_attempts": 1}))


# -- kept-alive latency ------------------------------------------------------------------------------------------------
def test_a_kept_alive_connection_answers_without_waiting_for_nagle(server: Server) -> None:
    # Nagle's algorithm made every answer on a kept-alive connection wait 40 ms for the client's delayed ACK.
    # The server's accepted socket must have TCP_NODELAY, and the connection must stay open between requests.
    with connect(server) as sock:
        for _ in range(3):
            sock.sendall(request())
            status, headers, body = read_answer(sock)
            assert (status, body) == (200, {"stateMachines": []})
            assert headers.get("connection", "").lower() != "close"
        theirs = server_side(sock)
        try:
            assert theirs.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        finally:
            theirs.close()


# -- the listen backlog ------------------------------------------------------------------------------------------------
def test_a_burst_of_connections_is_queued_not_dropped() -> None:
    # The stdlib listens with a backlog of 5: beyond it the kernel drops SYNs and connects wait a second or more.
    # Here nothing accepts at all, so with a backlog of 5 the connections past the sixth would never complete.
    s = Server(StepFunctions(MemoryStore()), port=0, workers=1)  # not started: the socket listens, nobody accepts
    socks: list[socket.socket] = []
    try:
        for _ in range(64):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(address(s))
            socks.append(c)
        pending = set(socks)
        deadline = time.monotonic() + WAIT
        while pending and time.monotonic() < deadline:
            _, writable, _ = select.select([], list(pending), [], 0.5)
            pending -= set(writable)
        assert not pending, f"{len(pending)} of 64 connections not established"
        assert all(c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0 for c in socks)
    finally:
        for c in socks:
            c.close()
        s.httpd.server_close()


# -- timeouts ------------------------------------------------------------------------------------------------------------
def test_a_connection_that_sends_nothing_is_closed_after_the_idle_timeout(server: Server) -> None:
    with connect(server) as sock:
        assert closed_by_server(sock)


def test_a_kept_alive_connection_is_closed_once_idle(server: Server) -> None:
    with connect(server) as sock:
        sock.sendall(request())
        assert read_answer(sock)[0] == 200
        assert closed_by_server(sock)


def test_a_request_stalled_in_its_body_gets_a_408_and_the_connection_closed(server: Server) -> None:
    with connect(server) as sock:
        sock.sendall(request(b'{"maxResults": 10}')[:-5])  # the last five bytes of the body never come
        status, headers, body = read_answer(sock)
        assert (status, body["__type"], headers["connection"]) == (408, "RequestTimeout", "close")
        assert closed_by_server(sock)


def test_a_client_trickling_its_request_is_cut_off(server: Server) -> None:
    # one byte every 0.2 s keeps every single read well under any per-read timeout; the request as a whole has 2 s
    data = request()
    with connect(server) as sock:
        deadline = time.monotonic() + WAIT
        cut = False
        for i in range(len(data)):
            assert time.monotonic() < deadline, "the server let a trickling client go on for 30 s"
            try:
                sock.sendall(data[i:i + 1])
            except ConnectionError:
                cut = True
                break
            readable, _, _ = select.select([sock], [], [], 0.2)
            if readable:
                cut = True
                break
        assert cut, "the whole request was trickled in without the server cutting it off"
        assert closed_by_server(sock)


def test_stop_closes_idle_kept_alive_connections() -> None:
    s = Server(StepFunctions(MemoryStore()), port=0, workers=1)  # the default idle timeout: a minute
    s.start()
    with socket.create_connection(address(s), timeout=WAIT) as sock:
        sock.sendall(request())
        assert read_answer(sock)[0] == 200
        s.stop()
        assert closed_by_server(sock)


# -- malformed requests get JSON, never HTML ----------------------------------------------------------------------------
@pytest.mark.parametrize(("raw", "status", "code"), [
    (b"hello\r\n\r\n", 400, "BadRequest"),
    (b"PO ST / HTTP/1.1 extra words\r\n\r\n", 400, "BadRequest"),
    (b"POST / HTTP/9.9\r\nHost: x\r\n\r\n", 505, "HTTPVersionNotSupported"),
    (b"POST / HTTP/1.1\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n", 431, "RequestHeaderFieldsTooLarge"),
    (b"POST / HTTP/1.1\r\n" + b"X-H: 1\r\n" * 120 + b"\r\n", 431, "RequestHeaderFieldsTooLarge"),
    (b"POST /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414, "RequestURITooLong"),
    (b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n", 501, "NotImplemented"),
    (b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n", 405, "MethodNotAllowed"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \xb2\r\n\r\n", 411, "MissingContentLength"),
])
def test_a_malformed_request_gets_a_json_error(server: Server, raw: bytes, status: int, code: str) -> None:
    with connect(server) as sock:
        sock.sendall(raw)
        got, headers, body = read_answer(sock)
        assert (got, body["__type"], headers["content-type"]) == (status, code, "application/x-amz-json-1.0")
        assert set(body) == {"__type", "message"} and body["message"]
        assert headers["connection"] == "close"
        assert closed_by_server(sock)


# -- hostile bodies ------------------------------------------------------------------------------------------------------
def test_a_body_nested_100000_deep_gets_a_400(server: Server) -> None:
    with connect(server) as sock:
        sock.sendall(request(b"[" * 100_000 + b"]" * 100_000))
        status, _, body = read_answer(sock)
        assert (status, body["__type"]) == (400, "SerializationException")
        assert "nested too deeply" in body["message"]
        sock.sendall(request())  # the connection is still good
        assert read_answer(sock)[0] == 200


@pytest.mark.parametrize("text", [b'{"nextToken": "\\ud800"}', b'{"nextToken": "\xed\xa0\x80"}'])
def test_a_lone_surrogate_in_a_body_gets_a_400(server: Server, text: bytes) -> None:
    with connect(server) as sock:
        sock.sendall(request(text))
        status, _, body = read_answer(sock)
        assert (status, body["__type"]) == (400, "SerializationException")
        assert "surrogate" in body["message"]


def test_a_body_that_is_not_utf8_gets_a_400(server: Server) -> None:
    with connect(server) as sock:
        sock.sendall(request(b'{"nextToken": "\xff"}'))
        status, _, body = read_answer(sock)
        assert (status, body["__type"]) == (400, "SerializationException")


# -- internal errors -----------------------------------------------------------------------------------------------------
def test_a_500_carries_no_exception_text(server: Server, monkeypatch: pytest.MonkeyPatch,
                                         caplog: pytest.LogCaptureFixture) -> None:
    def broken(**_: Any) -> Any:
        raise RuntimeError("secret detail from /srv/private/config")

    monkeypatch.setattr(server.service, "list_state_machines", broken)
    with pytest.raises(ClientError) as exc:
        client(server).list_state_machines()
    error = exc.value.response["Error"]
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert error["Code"] == "InternalFailure"
    assert error["Message"].startswith(INTERNAL_FAILURE)
    assert "secret" not in error["Message"] and "RuntimeError" not in error["Message"]
    # the details went to the log, under the request id the client was given
    request_id = exc.value.response["ResponseMetadata"]["RequestId"]
    assert request_id in error["Message"]
    assert any("secret detail" in r.getMessage() or (r.exc_info and "secret detail" in str(r.exc_info[1]))
               for r in caplog.records)


def test_an_answer_holding_a_lone_surrogate_is_still_sent(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server.service, "list_state_machines", lambda **_: {"stateMachines": [], "nextToken": "a\ud800é"})
    with connect(server) as sock:
        sock.sendall(request())
        status, _, body = read_answer(sock)
        assert (status, body) == (200, {"stateMachines": [], "nextToken": "a\ud800é"})


def test_an_answer_that_cannot_be_json_is_a_500(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server.service, "list_state_machines", lambda **_: {"stateMachines": {1, 2}})
    with connect(server) as sock:
        sock.sendall(request())
        status, _, body = read_answer(sock)
        assert (status, body["__type"]) == (500, "InternalFailure")
        assert "set" not in body["message"]
        sock.sendall(request(target="AWSStepFunctions.ListActivities"))
        assert read_answer(sock)[0] == 200


# -- idle connections hold no thread ------------------------------------------------------------------------------------
def test_idle_kept_alive_connections_are_parked_without_a_thread_each() -> None:
    s = Server(StepFunctions(MemoryStore()), port=0, workers=1, park_after=0.05)
    s.start()
    socks = [socket.create_connection(address(s), timeout=WAIT) for _ in range(40)]
    try:
        for sock in socks:
            sock.sendall(request())
            assert read_answer(sock)[0] == 200
        # once parked, no thread holds them (the stdlib server kept a thread on each until the client left)
        deadline = time.monotonic() + WAIT
        while (len(s.httpd.parking) < len(socks) or s.httpd.pool.busy) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (len(s.httpd.parking), s.httpd.pool.busy) == (len(socks), 0)
        # and every parked connection still serves its next request, on the same connection
        for sock in socks:
            sock.sendall(request(target="AWSStepFunctions.ListActivities"))
            assert read_answer(sock)[:1] == (200,)
        sfn = client(s)  # boto3's pooled connection, parked between calls
        for _ in range(3):
            assert sfn.list_state_machines()["stateMachines"] == []
            time.sleep(0.2)
        sfn.close()
    finally:
        for sock in socks:
            sock.close()
        s.stop()



def test_a_store_on_a_full_disk_is_a_503_the_sdk_retries_then_the_server_goes_on() -> None:
    from asl.store import SQLiteStore

    from .test_store_files import tmpfs

    with tmpfs("4m") as where:
        s = Server(StepFunctions(SQLiteStore(where / "store.db")), port=0, workers=1)
        s.start()
        try:
            sfn = boto3.client("stepfunctions", endpoint_url=f"http://{address(s)[0]}:{address(s)[1]}",
                               region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x",
                               config=Config(retries={"max_attempts": 1}))
            arn = sfn.create_state_machine(name="m", roleArn="arn:aws:iam::123456789012:role/r", definition=json.dumps(
                {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
            filler = where / "filler"
            with open(filler, "wb") as fh:
                try:
                    while True:
                        fh.write(b"x" * 65536)
                        fh.flush()
                except OSError:
                    pass
            with pytest.raises(ClientError) as err:
                sfn.start_execution(stateMachineArn=arn, input=json.dumps({"x": "y" * 100_000}))
            assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
            assert err.value.response["Error"]["Code"] == "ServiceUnavailable"
            assert "the disk is full" in err.value.response["Error"]["Message"]
            assert sfn.list_state_machines()["stateMachines"][0]["name"] == "m"  # reads go on
            filler.unlink()
            assert sfn.start_execution(stateMachineArn=arn)["executionArn"]
        finally:
            s.stop()


def test_a_request_stalled_in_its_first_line_gets_a_408(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("DEBUG"), connect(server) as sock:
        sock.sendall(b"POS")  # and nothing more
        status, _, body = read_answer(sock)
        assert (status, body["__type"]) == (408, "RequestTimeout")
        assert closed_by_server(sock)
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
