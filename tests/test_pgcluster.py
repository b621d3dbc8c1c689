"""The throwaway PostgreSQL server of tests/pgcluster.py and its fixtures, against the real server."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg

from asl.processes import pid_running

from .pgcluster import Cluster


def test_database_works(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, doc jsonb NOT NULL)")
        conn.execute("INSERT INTO t VALUES (%s, %s::jsonb), (%s, %s::jsonb)", (1, '{"a": 1}', 2, '{"b": 2}'))
        conn.commit()
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT id, doc FROM t ORDER BY id").fetchall() == [(1, {"a": 1}), (2, {"b": 2})]
        # Commits are real: the server keeps fsync on, and only listens on its socket.
        settings = conn.execute("SELECT current_setting('fsync'), current_setting('listen_addresses')").fetchone()
        assert settings == ("on", "")


def test_each_test_gets_its_own_database(postgres_cluster: Cluster, postgres_url: str) -> None:
    other = postgres_cluster.create_database("test_pgcluster_other")
    with psycopg.connect(postgres_url) as a, psycopg.connect(other) as b:
        name_a = a.execute("SELECT current_database()").fetchone()
        name_b = b.execute("SELECT current_database()").fetchone()
        assert name_a != name_b
        a.execute("CREATE TABLE only_in_a (x int)")
        a.commit()
        assert b.execute("SELECT to_regclass('only_in_a')").fetchone() == (None,)
    postgres_cluster.drop_database("test_pgcluster_other")


def test_listen_notify(postgres_url: str) -> None:
    with (
        psycopg.connect(postgres_url, autocommit=True) as listener,
        psycopg.connect(postgres_url, autocommit=True) as sender,
    ):
        listener.execute("LISTEN asl_wakeup")
        sender.execute("SELECT pg_notify('asl_wakeup', 'execution-1')")
        got = [(n.channel, n.payload, n.pid) for n in listener.notifies(timeout=5, stop_after=1)]
        assert got == [("asl_wakeup", "execution-1", sender.info.backend_pid)]


def test_stop_removes_everything_and_is_idempotent(postgres_cluster: Cluster, tmp_path: Path) -> None:
    # A base folder this long would overflow the socket path, and as root pytest's is not reachable by the
    # server's user: the cluster must still start (under /tmp).
    deep = tmp_path / ("x" * 90)
    deep.mkdir()
    cluster = Cluster.start(deep, postgres_cluster.bindir)
    assert len(str(cluster.folder)) < 100
    with psycopg.connect(cluster.url) as conn:
        pid = conn.info.backend_pid
        assert pid > 0
    postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
    cluster.stop()
    cluster.stop()
    assert not cluster.folder.exists()
    assert not pid_running(postmaster)  # pid_running: the server may linger as a zombie until reaped


def test_a_forked_child_does_not_stop_the_server(postgres_cluster: Cluster, postgres_url: str) -> None:
    # A child that exits normally runs the atexit handlers it inherited, among them the cluster's stop().
    pid = os.fork()
    if pid == 0:
        try:
            postgres_cluster.stop()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
