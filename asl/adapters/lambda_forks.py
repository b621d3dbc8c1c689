"""The fork server of local Lambda functions: ``lambda_runtime.py --zygote``, one Python process that forks a
function's process on request, so that a cold function starts in milliseconds instead of starting Python (a Map of
10 cold functions answering one invocation each, medians of 7: 279-299 ms spawned, 97-103 ms forked, the server's own
start included).

Requests go on a SOCK_SEQPACKET socket, each with an id and the function process's standard input, output and error
as file descriptors; a reader thread takes the server's answers (the id and the pid) and its notices (a process's exit
status: the server is the processes' parent). A process forked from the server has the server's start-up state, so
a function whose environment changes what Python reads when it starts gets a process started anew instead
(:meth:`ForkServer.usable_for`).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

from ..processes import pid_running

RUNTIME = str(Path(__file__).with_name("lambda_runtime.py"))
# What Python reads from the environment as it starts (PYTHON*; the locale, which fixes its encodings; HOME, which
# places the user's site-packages): a function whose environment sets any of these differently is not forked.
_STARTUP_VARIABLES = ("PYTHON", "LC_", "LANG", "HOME")
ANSWER_TIMEOUT = 30.0  # seconds to wait for the server to fork; past it the caller starts the process itself


class ForkedProcess:
    """A function process forked by the server. Its exit status comes from the server; once the server has ended,
    from ``waitpid`` if this process became its parent (as PID 1 or a subreaper), else it is known only to be gone."""

    def __init__(self, server: ForkServer, pid: int):
        self.server = server
        self.pid = pid
        self.ended = False
        self.returncode: int | None = None  # when ended: its exit status, None if nobody could tell

    def _check(self) -> None:
        if self.ended:
            return
        status = self.server.take_exit(self.pid)
        if status is not None:
            self.ended, self.returncode = True, status
        elif self.server.dead:  # the server can no longer say
            try:
                pid, raw = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # not ours: reaped by init, or soon to be
                self.ended = not pid_running(self.pid)
            else:
                if pid:
                    self.ended, self.returncode = True, os.waitstatus_to_exitcode(raw)

    def usable(self) -> bool:
        """Running, and still the server's (a process orphaned by the server's end is retired, not reused)."""
        self._check()
        # the server's process is asked too: its reader thread may not have seen the socket close yet
        return not self.ended and not self.server.dead and self.server.proc.poll() is None

    def kill(self) -> None:
        self._check()
        if not self.ended:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def wait(self, timeout: float) -> bool:
        """Whether it ended within ``timeout`` seconds."""
        end = time.monotonic() + timeout
        while True:
            self._check()
            left = end - time.monotonic()
            if self.ended or left <= 0:
                return self.ended
            self.server.wait_exit(self.pid, min(left, 0.05) if self.server.dead else left)


class ForkServer:
    """The server process and this side of its socket."""

    def __init__(self) -> None:
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen([sys.executable, RUNTIME, "--zygote", str(theirs.fileno())],
                                         pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=None, env=self.env, cwd="/")
        finally:
            theirs.close()
        self.ids = itertools.count(1)
        self.send_lock = threading.Lock()
        self.changed = threading.Condition()  # guards what follows; notified on every answer and notice
        self.answers: dict[int, int] = {}  # request id -> pid
        self.abandoned: set[int] = set()  # requests given up on (past ANSWER_TIMEOUT)
        self.exits: dict[int, int] = {}  # pid -> exit status, until its ForkedProcess takes it
        self.unowned: set[int] = set()  # processes forked for an abandoned request: their exits are not kept
        self.dead = False
        threading.Thread(target=self._read, name="asl-lambda-forks", daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                message = self.sock.recv(4096)
            except OSError:
                message = b""
            if not message:
                break
            notice = json.loads(message)
            with self.changed:
                if "exited" in notice:
                    pid = notice["exited"]
                    if pid in self.unowned:
                        self.unowned.discard(pid)
                    else:
                        self.exits[pid] = notice["status"]
                elif notice["id"] in self.abandoned:  # its pipes are closed: the process ends by itself
                    self.abandoned.discard(notice["id"])
                    self.unowned.add(notice["pid"])
                else:
                    self.answers[notice["id"]] = notice["pid"]
                self.changed.notify_all()
        with self.changed:
            self.dead = True
            self.changed.notify_all()

    def usable_for(self, env: dict[str, str], import_path: list[str]) -> bool:
        """Whether a process forked from the server starts as one spawned with ``env`` would: the same start-up
        variables, and a PYTHONPATH that is the server's with ``import_path`` in front (absolute paths only: relative
        ones depend on the directory Python starts in)."""
        if self.dead:
            return False
        for key in env.keys() | self.env.keys():
            if key.startswith(_STARTUP_VARIABLES) and key != "PYTHONPATH" and env.get(key) != self.env.get(key):
                return False
        base = self.env.get("PYTHONPATH", "")
        return (all(os.path.isabs(p) for p in [*import_path, *filter(None, base.split(os.pathsep))])
                and env.get("PYTHONPATH", "") == os.pathsep.join(x for x in (*import_path, base) if x))

    def spawn(self, argv: list[str], env: dict[str, str], cwd: str, import_path: list[str]
              ) -> tuple[ForkedProcess, IO[bytes], IO[bytes]] | None:
        """Fork a function process: its handle, standard input and output. None when the server cannot (it ended,
        it did not answer in time, or the request is too large for the socket): the caller starts the process."""
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        request_id = next(self.ids)
        request = json.dumps({"id": request_id, "argv": argv, "env": env, "cwd": cwd, "path": import_path}).encode()
        pid = None
        try:
            with self.send_lock:
                # standard error is this process's file descriptor 2, as a spawned process would inherit it
                socket.send_fds(self.sock, [request], [in_r, out_w, 2])
            end = time.monotonic() + ANSWER_TIMEOUT
            with self.changed:
                while (pid := self.answers.pop(request_id, None)) is None and not self.dead:
                    left = end - time.monotonic()
                    if left <= 0:
                        self.abandoned.add(request_id)
                        break
                    self.changed.wait(left)
        except OSError:
            pass
        finally:
            os.close(in_r)
            os.close(out_w)
        if pid is None:
            os.close(in_w)
            os.close(out_r)
            return None
        return ForkedProcess(self, pid), os.fdopen(in_w, "wb"), os.fdopen(out_r, "rb")

    def take_exit(self, pid: int) -> int | None:
        with self.changed:
            return self.exits.pop(pid, None)

    def wait_exit(self, pid: int, timeout: float) -> None:
        with self.changed:
            if pid not in self.exits:
                self.changed.wait(timeout)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
