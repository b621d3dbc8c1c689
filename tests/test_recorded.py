"""The cases recorded against real AWS: every one passes, or is in conformance/known-failures.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from asl.conformance import Fixture, run_case

from .conftest import RECORDED, ROOT, needs_shared, recorded_cases

LEDGER = json.loads((ROOT / "conformance" / "known-failures.json").read_text())["cases"]
PURE = recorded_cases("pure")
LAMBDA = recorded_cases("lambda")
SERVICE = recorded_cases("service")
MOCKED = recorded_cases("mocked")
SERVICE_FIXTURES = json.loads((ROOT / "conformance" / "service-fixtures.json").read_text())["cases"]


def _param(p: Path) -> object:
    key = f"{p.parent.name}/{p.name}"
    marks = [pytest.mark.xfail(reason=LEDGER[key], strict=True)] if key in LEDGER else []
    return pytest.param(p, marks=marks, id=p.stem[-70:])


@needs_shared
@pytest.mark.parametrize("path", [_param(p) for p in PURE + LAMBDA + MOCKED])
def test_recorded_case(path: Path) -> None:
    """pure/ cases; lambda/ cases, whose functions' sources are in the case, run through the local Lambda emulator;
    mocked/ cases, run with the Step Functions Local mock configuration they carry."""
    verdict = run_case(path)
    assert verdict.passed, "\n".join(verdict.diffs)


@needs_shared
@pytest.mark.parametrize("path", [_param(p) for p in SERVICE])
def test_service_case(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Service cases against moto, with the resources conformance/service-fixtures.json says each needs."""
    moto = pytest.importorskip("moto")
    import boto3

    from asl.adapters import Adapters
    from asl.adapters.aws import AwsServices

    key = f"service/{path.name}"
    assert key in SERVICE_FIXTURES or key in LEDGER, f"{key} has neither a fixture nor a ledger entry"
    entry = SERVICE_FIXTURES.get(key, {"setup": []})
    case = json.loads(path.read_text())
    ctx = case["context"]
    for k, v in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                 ("AWS_DEFAULT_REGION", ctx["region"]), ("MOTO_ACCOUNT_ID", ctx["account"])):
        monkeypatch.setenv(k, v)
    with moto.mock_aws():
        bindings: dict[str, str] = {}
        for step in entry["setup"]:
            service, _, method = step["call"].partition(".")
            response = getattr(boto3.client(service, region_name=ctx["region"]), method)(**step["args"])
            bindings.update({placeholder: response[field] for placeholder, field in step.get("bind", {}).items()})
        adapters = Adapters()
        AwsServices(region=ctx["region"]).register_in(adapters)
        verdict = run_case(path, Fixture(adapters, bindings, entry.get("transformers", [])))
    assert verdict.passed, "\n".join(verdict.diffs)


@needs_shared
def test_ledger_names_existing_cases() -> None:
    for key in LEDGER:
        assert (RECORDED / key).is_file(), f"ledger entry for a missing case: {key}"


@needs_shared
def test_jsonpath_mode_pass_rate_at_least_95_percent() -> None:
    jsonpath = [p for p in PURE if "JSONata" not in json.dumps(json.loads(p.read_text())["definition"])]
    failing = [p for p in jsonpath if f"pure/{p.name}" in LEDGER]
    assert len(jsonpath) - len(failing) >= 0.95 * len(jsonpath)
