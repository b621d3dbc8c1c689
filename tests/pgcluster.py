"""A real, throwaway PostgreSQL server for the tests, started by the project itself.

``Cluster.start()`` runs ``initdb`` in a fresh temporary folder and starts the server with ``pg_ctl``,
listening only on a Unix socket in that folder (no TCP port, so runs never collide). ``stop()`` ends it
and removes the folder. The server binaries come from Debian's ``postgresql`` package
(``/usr/lib/postgresql/<N>/bin``) or from PATH; ``ensure_installed()`` installs the package with
apt-get when we are root and it is missing, as on a clean CI machine.

For developers and benchmarks::

    python -m tests.pgcluster                     # start one, print its URL, wait for Ctrl-C
    python -m tests.pgcluster --ensure-installed  # only install PostgreSQL if needed (scripts/test.sh)
"""

from __future__ import annotations

import argparse
import atexit
import os
import pwd
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

from .debian import apt_install, can_install

_TOOLS = ("initdb", "pg_ctl", "postgres")
_DEBIAN_ROOT = Path("/usr/lib/postgresql")
# The server's socket is <folder>/.s.PGSQL.5432 and a Unix socket path must fit in 108 bytes
# (sun_path, with its NUL): keep the folder well below that.
_MAX_FOLDER_LEN = 80
# The user the server runs as when we are root: PostgreSQL refuses to run as root.
_SERVER_USER = "postgres"


def required() -> bool:
    """Whether a missing PostgreSQL is an error rather than a reason to skip: in CI, or when asked."""
    ci = os.environ.get("CI", "").strip().lower()
    return ci not in ("", "0", "false", "no") or os.environ.get("ASL_REQUIRE_POSTGRES") == "1"


def _has_tools(d: Path) -> bool:
    return all(os.access(d / t, os.X_OK) for t in _TOOLS)


def _version_key(d: Path) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in d.name.split("."))
    except ValueError:
        return ()


def find_bindir() -> Path | None:
    """The folder with initdb, pg_ctl and postgres: Debian's newest version first, then PATH."""
    if _DEBIAN_ROOT.is_dir():
        versions = sorted((d for d in _DEBIAN_ROOT.iterdir() if _version_key(d)), key=_version_key)
        for v in reversed(versions):
            if _has_tools(v / "bin"):
                return v / "bin"
    found = shutil.which("initdb")
    if found is None:
        return None
    # PATH may hold a symlink to initdb (Homebrew, alternatives): its target's folder has the rest.
    for d in (Path(found).resolve().parent, Path(found).parent):
        if _has_tools(d):
            return d
    return None


def ensure_installed() -> Path | None:
    """find_bindir(), after installing Debian's postgresql package if it is missing and we can (root, apt-get).

    None when PostgreSQL is not there and cannot be installed.
    """
    bindir = find_bindir()
    if bindir is not None or not can_install() or not apt_install("postgresql", "pgcluster"):
        return bindir
    return find_bindir()


def _system_tool(name: str) -> str:
    """The path of an administration tool (runuser, useradd), also when PATH lacks the sbin folders (as in a
    benchmark started with a minimal environment)."""
    return shutil.which(name, path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin") or name


def _server_user() -> pwd.struct_passwd | None:
    """The account to run the server as: None when we are not root (it runs as us)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(_SERVER_USER)
    except KeyError:
        # Debian's package creates it; a PostgreSQL found on PATH may not have.
        subprocess.run([_system_tool("useradd"), "--system", "--no-create-home", _SERVER_USER], check=True)
        return pwd.getpwnam(_SERVER_USER)


def _reachable_by_others(p: Path) -> bool:
    """Whether every folder down to p can be entered by any user (pytest's tmp folders are 0700)."""
    return all(os.stat(d).st_mode & 0o001 for d in (p, *p.parents))


class Cluster:
    """One running PostgreSQL server in its own temporary folder; see ``start``."""

    def __init__(self, bindir: Path, folder: Path, user: pwd.struct_passwd | None) -> None:
        self.bindir = bindir
        self.folder = folder  # holds data/, server.log and the server's socket
        self.user = user
        self._stopped = False
        self._owner = os.getpid()

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    @classmethod
    def start(cls, base: Path | None = None, bindir: Path | None = None) -> Cluster:
        """initdb a new cluster in a temporary folder under base (or /tmp) and start its server.

        The server listens only on a Unix socket in that folder. fsync stays on: tests and benchmarks
        measure real commits.
        """
        bindir = bindir or find_bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL is not installed (no initdb in /usr/lib/postgresql/*/bin or PATH)")
        user = _server_user()
        base = Path(base or "/tmp").resolve()
        # A long base would make the socket path too long; as root, the server's user must reach the folder.
        if len(str(base)) > _MAX_FOLDER_LEN - 15 or (user is not None and not _reachable_by_others(base)):
            base = Path("/tmp")
        folder = Path(tempfile.mkdtemp(prefix="aslpg", dir=base))
        if user is not None:
            os.chown(folder, user.pw_uid, user.pw_gid)
        cluster = cls(bindir, folder, user)
        atexit.register(cluster.stop)  # a crashed or interrupted run must not leave a server behind
        try:
            # --no-sync: initdb's own final fsync of the new files only slows startup; the server keeps fsync on.
            cluster._pg("initdb", "-D", str(cluster.data), "-A", "trust", "-E", "UTF8", "--no-locale",
                        "-U", "postgres", "--no-sync")
            cluster.resume()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def resume(self) -> None:
        """Start the server (again, after :meth:`pause`)."""
        options = {"listen_addresses": "", "unix_socket_directories": str(self.folder), "max_connections": "200"}
        # pg_ctl hands -o to /bin/sh, hence the quoting.
        opts = " ".join(f"-c {shlex.quote(f'{k}={v}')}" for k, v in options.items())
        self._pg("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o", opts)

    def pause(self) -> None:
        """Stop the server, keeping its data (as a database restart or an outage does); :meth:`resume` starts it."""
        self._pg("pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w")

    def _pg(self, tool: str, *args: str) -> None:
        """Run a server tool as the server's user, raising with its output (and the server log) on failure."""
        cmd = [str(self.bindir / tool), *args]
        if self.user is not None:
            cmd = [_system_tool("runuser"), "-u", self.user.pw_name, "--", *cmd]
        # cwd: the server's user may not be allowed into ours (root's home).
        r = subprocess.run(cmd, cwd=self.folder, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if r.returncode != 0:
            log = self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""
            raise RuntimeError(f"{shlex.join(cmd)} failed ({r.returncode}):\n{r.stdout}{r.stderr}\n{log}")

    def url_for(self, dbname: str) -> str:
        """A libpq URL for database dbname on this server, as user postgres over the Unix socket."""
        return f"postgresql://postgres@/{quote(dbname, safe='')}?host={quote(str(self.folder), safe='/')}"

    @property
    def url(self) -> str:
        """The URL of the default database, postgres."""
        return self.url_for("postgres")

    def create_database(self, name: str) -> str:
        """Create a new, empty database and return its URL."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, ending the sessions still connected to it."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def stop(self) -> None:
        """Stop the server at once (the data is thrown away) and remove the folder. Safe to call twice."""
        # A forked child runs its parent's atexit handlers too: only the process that started the server stops it.
        if self._stopped or os.getpid() != self._owner:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        try:
            if (self.data / "postmaster.pid").exists():
                self._pg("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.pgcluster", description="Start a throwaway PostgreSQL server and print its URL.")
    parser.add_argument("--ensure-installed", action="store_true",
                        help="only install PostgreSQL if it is missing (as root, with apt-get), print its bindir")
    parser.add_argument("--base", type=Path, help="folder to create the cluster's folder in (default /tmp)")
    args = parser.parse_args(argv)
    bindir = ensure_installed()
    if bindir is None:
        print("pgcluster: PostgreSQL is not installed and cannot be installed here (needs root and apt-get)",
              file=sys.stderr)
        return 1
    if args.ensure_installed:
        print(bindir)
        return 0
    t0 = time.perf_counter()
    cluster = Cluster.start(args.base, bindir)
    print(f"PostgreSQL ({bindir}) ready in {time.perf_counter() - t0:.2f} s; Ctrl-C stops it.", file=sys.stderr)
    print(cluster.url, flush=True)  # alone on stdout, for scripts that read it
    # Stop the server on SIGTERM too (a benchmark's kill): sys.exit runs the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
