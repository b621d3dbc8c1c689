"""The store commands of the command line: what reading commands may not create, `asl history` of a long
history, and `asl start --input-file`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from asl.cli import main
from asl.service import StepFunctions
from asl.store import SQLiteStore

PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


def asl(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real command line, in its own process."""
    return subprocess.run([sys.executable, "-m", "asl", *args], capture_output=True, text=True, cwd=cwd, timeout=120,
                          env=env)


def files(where: Path) -> list[str]:
    return sorted(str(p.relative_to(where)) for p in where.rglob("*"))


def shown(value: Any) -> str:
    """What the commands print for a JSON value (``_show`` in asl/cli.py)."""
    return json.dumps(value, indent=1, ensure_ascii=False,
                      default=lambda o: o.isoformat() if isinstance(o, datetime) else None) + "\n"


# -- reading commands create nothing ---------------------------------------------------------------------------
def test_reading_commands_on_a_missing_store_fail_and_create_nothing(tmp_path: Path) -> None:
    arn = "arn:aws:states:us-east-1:123456789012:execution:m:e"
    commands = (["executions", "list"], ["executions", "describe", arn], ["history", arn], ["executions", "describe", "e"],
                ["history", "e", "--max-items", "3"])
    for store in (tmp_path / "store.db", tmp_path / "sub" / "dir" / "store.db"):
        for command in commands:
            r = asl(*command, "--store", str(store))
            assert r.returncode == 2 and r.stderr.startswith(f"error: {store}: no asl store there"), r.stderr
            assert "Traceback" not in r.stderr
    # the default store, .asl/store.db in the current directory, and $ASL_STORE
    env = {k: v for k, v in os.environ.items() if k != "ASL_STORE"}
    for command in commands:
        r = asl(*command, cwd=tmp_path, env=env)
        assert r.returncode == 2 and r.stderr.startswith("error: .asl/store.db: no asl store there"), r.stderr
        r = asl(*command, cwd=tmp_path, env={**env, "ASL_STORE": str(tmp_path / "env.db")})
        assert r.returncode == 2 and f"{tmp_path / 'env.db'}: no asl store there" in r.stderr, r.stderr
    assert files(tmp_path) == []


def test_reading_commands_leave_no_files_behind(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    definition = tmp_path / "m.json"
    definition.write_text(json.dumps(PASS))
    r = asl("start", str(definition), "--store", str(store), "--name", "e")
    assert r.returncode == 0, r.stderr
    assert files(tmp_path) == ["m.json", "s.db"]
    for command in (["executions", "list"], ["executions", "describe", "e"], ["history", "e"]):
        r = asl(*command, "--store", str(store))
        assert r.returncode == 0, r.stderr
        assert files(tmp_path) == ["m.json", "s.db"], command


def test_writing_commands_still_create_the_store(tmp_path: Path) -> None:
    definition = tmp_path / "m.json"
    definition.write_text(json.dumps(PASS))
    store = tmp_path / "new" / "dir" / "s.db"
    r = asl("start", str(definition), "--store", str(store), "--name", "e")
    assert r.returncode == 0 and store.exists(), r.stderr
    r = asl("worker", "--until-idle", "--store", str(tmp_path / "w" / "s.db"))
    assert r.returncode == 0 and (tmp_path / "w" / "s.db").exists(), r.stderr


# -- asl history -------------------------------------------------------------------------------------------------
def _long_history(path: Path) -> tuple[str, list[dict[str, Any]]]:
    """An execution of more than 1,000 events (a Map of 300 Pass iterations): its ARN and history."""
    sfn = StepFunctions(SQLiteStore(path))
    definition = {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.items", "End": True,
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}}}}
    sm = sfn.create_state_machine(name="long", definition=json.dumps(definition))["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=sm, name="long", input=json.dumps({"items": list(range(300))}))["executionArn"]
    sfn.worker({}).run_until_idle()
    events = sfn.store.events(arn)
    assert len(events) > 1200 and events[-1]["type"] == "ExecutionSucceeded"
    return arn, events


def test_history_prints_the_whole_history(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    arn, events = _long_history(store)
    r = CliRunner().invoke(main, ["history", "long", "--store", str(store)])
    assert r.exit_code == 0, r.output
    assert r.stdout == shown(events)  # all of it, as the JSON array it always was
    r = CliRunner().invoke(main, ["history", arn, "--store", str(store), "--max-items", "1001"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == json.loads(shown(events[:1001]))
    r = CliRunner().invoke(main, ["history", arn, "--store", str(store), "--reverse", "--max-items", "1200"])
    assert r.exit_code == 0, r.output
    assert [e["id"] for e in json.loads(r.stdout)] == [e["id"] for e in reversed(events)][:1200]
    r = CliRunner().invoke(main, ["history", arn, "--store", str(store), "--reverse-order"])
    assert [e["id"] for e in json.loads(r.stdout)] == [e["id"] for e in reversed(events)]
    r = CliRunner().invoke(main, ["history", arn, "--store", str(store), "--max-items", "0"])
    assert r.exit_code == 2 and "--max-items" in r.output


def test_history_of_a_short_execution_and_of_none(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    sfn = StepFunctions(SQLiteStore(store))
    sm = sfn.create_state_machine(name="m", definition=json.dumps(PASS))["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=sm, name="e")["executionArn"]
    sfn.worker({}).run_until_idle()
    r = CliRunner().invoke(main, ["history", "e", "--store", str(store)])
    assert r.exit_code == 0 and r.stdout == shown(sfn.store.events(arn)), r.output
    r = CliRunner().invoke(main, ["history", arn + "x", "--store", str(store)])
    assert r.exit_code == 1 and "ExecutionDoesNotExist" in r.output and r.stdout == ""


# -- asl start --input-file ----------------------------------------------------------------------------------------
def test_start_takes_an_input_file_too_long_for_a_command_line(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    definition = tmp_path / "m.json"
    definition.write_text(json.dumps(PASS))
    big = json.dumps({"text": "é" * 100_000}, ensure_ascii=False)  # 200 KB: over the 128 KiB an argument of a command can have
    assert len(big.encode()) > 128 * 1024
    (tmp_path / "in.json").write_text(big, encoding="utf-8")
    r = asl("start", str(definition), "--store", str(store), "--name", "big", "--input-file", str(tmp_path / "in.json"))
    assert r.returncode == 0, r.stderr
    described = json.loads(asl("executions", "describe", "big", "--store", str(store)).stdout)
    assert described["input"] == big


def test_start_input_file_errors(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    definition = tmp_path / "m.json"
    definition.write_text(json.dumps(PASS))
    missing = tmp_path / "missing.json"
    r = CliRunner().invoke(main, ["start", str(definition), "--store", str(store), "--input-file", str(missing)])
    assert r.exit_code == 2 and f"cannot read file: {missing}" in r.output, r.output
    (tmp_path / "latin1.json").write_bytes(b'{"a": "\xe9"}')
    r = CliRunner().invoke(main, ["start", str(definition), "--store", str(store), "--input-file", str(tmp_path / "latin1.json")])
    assert r.exit_code == 2 and "latin1.json" in r.output and "UTF-8" in r.output, r.output
    r = CliRunner().invoke(main, ["start", str(definition), "--store", str(store), "--input-file", str(tmp_path)])
    assert r.exit_code == 2, r.output
    assert not store.exists()  # nothing was started, and no store was made for it
    (tmp_path / "in.json").write_text("{}")
    r = CliRunner().invoke(main, ["start", str(definition), "--store", str(store), "--input", "{}",
                                  "--input-file", str(tmp_path / "in.json")])
    assert r.exit_code == 2 and "either --input or --input-file" in r.output
    # the service checks the input as it checks --input: not JSON, or over 256 KiB (read no further than that)
    (tmp_path / "bad.json").write_text("{nope")
    r = CliRunner().invoke(main, ["start", str(definition), "--store", str(store), "--input-file", str(tmp_path / "bad.json")])
    assert r.exit_code == 1 and "InvalidExecutionInput" in r.output, r.output
    (tmp_path / "huge.json").write_text(json.dumps({"x": "y" * 300_000}))
    r = CliRunner().invoke(main, ["start", str(definition), "--store", str(store), "--input-file", str(tmp_path / "huge.json")])
    # the model's bound on the input (262144 characters), checked before the service's own
    assert r.exit_code == 1 and "ValidationException" in r.output and "262144" in r.output, r.output
    r = CliRunner().invoke(main, ["start", str(definition), "--store", str(store), "--input-file", "/dev/zero"])
    assert r.exit_code == 1 and "262144" in r.output, r.output  # a bounded read: no hang, no memory blow-up
    assert StepFunctions(SQLiteStore(store)).store.list_executions() == []


def test_writing_commands_on_a_read_only_store_say_so_without_a_traceback(tmp_path: Path) -> None:
    from .test_store_files import remount_read_only, tmpfs

    definition = tmp_path / "m.asl.json"
    definition.write_text(json.dumps(PASS))
    with tmpfs("4m") as where:
        store = where / "store.db"
        started = asl("start", str(definition), "--store", str(store), "--name", "e")
        assert started.returncode == 0, started.stderr
        SQLiteStore(store).close()
        remount_read_only(where)
        arn = started.stdout.strip()
        for command in (["stop", arn], ["stop", "e"], ["start", str(definition)], ["worker", "--until-idle"]):
            r = asl(*command, "--store", str(store))
            assert r.returncode == 2 and "Traceback" not in r.stderr, (command, r.stderr)
            assert r.stderr.startswith(f"error: {store}:") and "read-only" in r.stderr, (command, r.stderr)
        assert asl("executions", "describe", "e", "--store", str(store)).returncode == 0  # reads still work


def test_stop_and_task_commands_on_a_missing_store_create_nothing(tmp_path: Path) -> None:
    store = tmp_path / "typo" / "store.db"
    for command in (["stop", "arn:aws:states:us-east-1:123456789012:execution:m:e"], ["task", "success", "t"],
                    ["task", "failure", "t"], ["task", "heartbeat", "t"]):
        r = asl(*command, "--store", str(store))
        assert r.returncode == 2 and r.stderr.startswith(f"error: {store}: no asl store there"), r.stderr
    assert files(tmp_path) == []


def test_the_store_comes_from_the_flag_the_environment_or_asl_toml(tmp_path: Path, postgres_url: str) -> None:
    """--store, else $ASL_STORE, else asl.toml's [store] location (a file relative to asl.toml, or a URL)."""
    (tmp_path / "p.json").write_text(json.dumps(PASS))
    (tmp_path / "asl.toml").write_text('[store]\nlocation = "kept/here.db"\n')
    env = {k: v for k, v in os.environ.items() if k != "ASL_STORE"}
    assert asl("start", "p.json", cwd=tmp_path, env=env).returncode == 0
    assert (tmp_path / "kept" / "here.db").is_file()
    assert asl("start", "p.json", "--store", "flag.db", cwd=tmp_path, env=env).returncode == 0
    assert asl("start", "p.json", cwd=tmp_path, env={**env, "ASL_STORE": "env.db"}).returncode == 0
    assert {"flag.db", "env.db"} <= set(files(tmp_path))
    (tmp_path / "asl.toml").write_text(f'[store]\nlocation = "{postgres_url}"\n')
    assert asl("start", "p.json", "--name", "in-pg", cwd=tmp_path, env=env).returncode == 0
    listed = asl("executions", "list", cwd=tmp_path, env=env)
    assert listed.returncode == 0 and "execution:p:in-pg" in listed.stdout
    (tmp_path / "asl.toml").write_text("[store]\nlocation = 5\n")
    bad = asl("executions", "list", cwd=tmp_path, env=env)
    assert bad.returncode == 2 and "asl.toml: store: expected a table with location" in bad.stderr
