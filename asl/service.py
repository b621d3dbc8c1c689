"""The service layer: the Step Functions API operations over a store.

Method names are boto3's (``start_execution``), arguments and results AWS's (``stateMachineArn=…`` in,
``{"executionArn": …, "startDate": …}`` out), so code written against a boto3 ``stepfunctions`` client runs
against :class:`StepFunctions` unchanged, and the CLI and the HTTP endpoint are thin fronts over it. Errors are
:class:`ServiceError` with AWS's error code (``ExecutionDoesNotExist``, ``TaskTimedOut``, ...).
:meth:`StepFunctions.call` takes an operation by its API name and checks the request against the API model
first, as AWS's front end does; the HTTP server goes through it.

Executions are run by :class:`~asl.durable.Worker`\\ s over the same store, in this process or another;
StartSyncExecution runs its EXPRESS execution in the calling thread.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import re
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from . import wallclock
from .api import RequestError, check_request, method_name
from .apiargs import (
    MAX_TAGS,
    arn_kind,
    check_arn,
    check_json,
    check_kind,
    check_name,
    paged,
    put,
    revision_id,
    tag_dict,
    unqualified_arn,
    version_arn,
)
from .clientshape import PaginatedClient, make_boto3_shaped
from .diagnostics import Severity
from .durable import Worker, parent_outcome, reason
from .durable import log as worker_log
from .errors import ServiceError
from .jsontext import dumps_checked
from .mapruns import MapRunOperations
from .parse import loads as parse_text
from .redrive import RedriveOperations, redrive_fields
from .runtime.history import BRANCH
from .runtime.options import TaskFunction
from .store.base import (
    ABORTED,
    FAILED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    ActivityRecord,
    AliasRecord,
    Conflict,
    ExecutionRecord,
    StateMachineRecord,
    Store,
    TokenRecord,
    VersionRecord,
)
from .validate import validate

T = TypeVar("T")


class StepFunctions(MapRunOperations, RedriveOperations, PaginatedClient):
    """The Step Functions API over ``store``, for one account and region.

    ``tasks`` and ``adapters`` serve the Task states of executions this service runs itself (StartSyncExecution)
    and are the defaults of :meth:`worker`; ``mock_config`` (an :class:`asl.mocks.MockConfig`) lets a
    StartExecution or StartSyncExecution of ``<stateMachineArn>#<TestCase>`` run that mocked test case, as Step
    Functions Local does."""

    def __init__(self, store: Store, account: str = "123456789012", region: str = "us-east-1", partition: str = "aws",
                 activity_poll_seconds: float = 60.0, tasks: Mapping[str, TaskFunction] | None = None,
                 adapters: Any = None, mock_config: Any = None):
        self.store = store
        self.account = account
        self.region = region
        self.partition = partition
        self.activity_poll_seconds = activity_poll_seconds
        self.tasks = dict(tasks or {})
        self.adapters = adapters
        self.mock_config = mock_config

    def _arn(self, kind: str, *parts: str) -> str:
        return f"arn:{self.partition}:states:{self.region}:{self.account}:{kind}:" + ":".join(parts)

    def _registry(self, adapters: Any = None) -> Any:
        """The adapters registry for executions of this service: nested executions start here."""
        from .adapters import Adapters
        from .adapters.states import ChildExecutions

        base = adapters if adapters is not None else self.adapters
        registry = base.copy() if base is not None else Adapters()
        ChildExecutions(self).register_in(registry)
        return registry

    def worker(self, tasks: Mapping[str, TaskFunction] | None = None, adapters: Any = None,
               lambdas: Iterable[str] | Mapping[str, str] | None = None, **kw: Any) -> Worker:
        """A worker that runs this service's executions (see :class:`~asl.durable.Worker`), with nested
        executions (``states:startExecution``) started in this service and its mock configuration.

        ``lambdas`` are local Lambda functions as ``asl worker --lambda`` takes them: ``"NAME=FILE.py:HANDLER"``
        (or ``"NAME=HANDLER,timeout=SECONDS"``), or a mapping of NAME to HANDLER; each is loaded and checked now (a
        missing file or handler is a :class:`~asl.errors.ConfigError`). ``worker.adapters.close()`` ends their
        processes."""
        kw.setdefault("mock_config", self.mock_config)
        if lambdas is not None:
            if adapters is not None:
                raise TypeError("worker(): give either adapters or lambdas")
            from .config import Config, lambda_flag

            flags = [f"{k}={v}" for k, v in lambdas.items()] if isinstance(lambdas, Mapping) else list(lambdas)
            adapters = Config(functions=[lambda_flag(f) for f in flags]).adapters()
        return Worker(self.store, tasks if tasks is not None else self.tasks, adapters=self._registry(adapters), **kw)

    def call(self, operation: str, params: Any = None) -> dict[str, Any]:
        """Run an API operation by its name (``StartExecution``) on a request body, checked against the API
        model first (AWS's ValidationException wording)."""
        body: Any = {} if params is None else params
        try:
            check_request(operation, body)
        except RequestError as exc:
            raise ServiceError(exc.code, exc.message) from None
        fn = getattr(self, method_name(operation), None)
        if fn is None:
            raise ServiceError("UnknownOperationException", f"asl does not implement the operation {operation}")
        # the method itself: the wire's body was checked as the service checks it (unknown members are ignored)
        inner = getattr(fn, "__wrapped__", None)
        result: dict[str, Any] = inner(self, **body) if inner is not None else fn(**body)
        return result

    # -- state machines ----------------------------------------------------------------------------------------
    def _check_definition(self, definition: Any, machine_type: str) -> str:
        if not isinstance(definition, str):
            raise ServiceError("InvalidDefinition", "Invalid State Machine Definition: the definition must be a JSON text")
        errors = [d for d in self._diagnostics(definition, machine_type) if d.severity is Severity.ERROR]
        if errors:
            text = ", ".join(f"{d.code}: {d.message} at {d.location or '/'}" for d in errors)
            raise ServiceError("InvalidDefinition", f"Invalid State Machine Definition: '{text}'")
        return definition

    @staticmethod
    def _diagnostics(definition: str, machine_type: str) -> list[Any]:
        # parse and validate, not model.load: load stops at a duplicate key, and this reports every problem
        parsed = parse_text(definition)
        diags = list(parsed.diagnostics)
        if parsed.ok:
            diags += validate(parsed.value, machine_type=machine_type)
        return diags

    @staticmethod
    def _check_logging(logging: Any) -> None:
        if not logging:
            return
        level = logging.get("level", "OFF")
        destinations = logging.get("destinations") or []
        if level != "OFF" and len(destinations) != 1 or len(destinations) > 1:
            raise ServiceError("InvalidLoggingConfiguration",
                               "Invalid Logging Configuration: Must specify exactly one Log Destination.")

    @staticmethod
    def _lookup(arn: Any, get: Callable[[str], T | None], missing: str) -> T:
        """The record an ARN names: InvalidArn for something that is not an ARN, ``missing`` (AWS's
        ``…DoesNotExist`` code; its message splits the name into words) when there is none."""
        rec = get(check_arn(arn))
        if rec is None:
            raise ServiceError(missing, re.sub(r"(?<=[a-z])(?=[A-Z])", " ", missing) + f": '{arn}'")
        return rec

    def _machine(self, arn: Any) -> StateMachineRecord:
        return self._lookup(check_kind(arn, "stateMachine"), self.store.get_state_machine, "StateMachineDoesNotExist")

    @staticmethod
    def _unqualified(arn: str) -> str:
        return ":".join(arn.split(":")[:7])

    def _target(self, arn: Any) -> tuple[StateMachineRecord, VersionRecord | None, AliasRecord | None]:
        """What a state machine ARN names: the state machine, with the version (a version ARN, or the one an
        alias ARN routed to) and the alias."""
        arn = check_kind(arn, "stateMachine")
        if unqualified_arn(arn):
            return self._machine(arn), None, None
        parts = arn.split(":")
        if len(parts) != 8 or not parts[7]:
            raise ServiceError("InvalidArn", f"Invalid Arn: '{arn}'")
        sm = self._machine(self._unqualified(arn))
        if version_arn(arn):
            return sm, self._lookup(arn, self.store.get_version, "StateMachineDoesNotExist"), None
        alias = self.store.get_alias(arn)
        if alias is None:
            raise ServiceError("ResourceNotFound", f"Resource not found: '{arn}'")
        chosen = random.choices([a for a, _ in alias.routing], weights=[w for _, w in alias.routing])[0]
        return sm, self._lookup(chosen, self.store.get_version, "StateMachineDoesNotExist"), alias

    def create_state_machine(self, name: str, definition: str, roleArn: str | None = None,  # noqa: N803 - AWS's names
                             type: str = "STANDARD", tags: Any = None, publish: bool = False,  # noqa: A002
                             versionDescription: str | None = None, loggingConfiguration: Any = None,  # noqa: N803
                             **_: Any) -> dict[str, Any]:
        check_name(name)
        if type not in ("STANDARD", "EXPRESS"):
            raise ServiceError("ValidationException", f"Value '{type}' at 'type' failed to satisfy constraint: "
                                                      "Member must satisfy enum value set: [STANDARD, EXPRESS]")
        if versionDescription is not None and not publish:
            raise ServiceError("ValidationException", "Version description can only be set when publish is true")
        self._check_logging(loggingConfiguration)
        self._check_definition(definition, type)
        role = roleArn or f"arn:{self.partition}:iam::{self.account}:role/StepFunctionsRole"
        arn = self._arn("stateMachine", name)
        rec = StateMachineRecord(arn, name, definition, role, type, wallclock.now())
        try:
            self.store.put_state_machine(rec)
        except Conflict:
            old = self.store.get_state_machine(arn)
            # AWS: the same definition and type is the same request (a different role or tags is ignored)
            if old is None or (old.definition, old.type) != (definition, type):
                raise ServiceError("StateMachineAlreadyExists", f"State Machine Already Exists: '{arn}'") from None
            rec = old
        else:
            if tags:
                self._check_tags(tags, arn, existing={})
                self.store.set_tags(arn, tag_dict(tags))
        out: dict[str, Any] = {"stateMachineArn": arn, "creationDate": rec.created}
        if publish:
            version = self.store.publish_version(arn, versionDescription, wallclock.now())
            if version is not None:
                out["stateMachineVersionArn"] = version.arn
        return out

    def validate_state_machine_definition(self, definition: str, type: str = "STANDARD",  # noqa: A002
                                          severity: str = "ERROR", maxResults: int = 0, **_: Any) -> dict[str, Any]:  # noqa: N803
        """ValidateStateMachineDefinition: every problem the validator finds, errors first."""
        diags = self._diagnostics(definition, type)
        if severity == "ERROR":
            diags = [d for d in diags if d.severity is Severity.ERROR]
        diags.sort(key=lambda d: d.severity is not Severity.ERROR)
        limit = maxResults or 100
        out = [{"severity": d.severity.name, "code": d.code, "message": d.message,
                **({"location": d.location or "/"} if d.location is not None else {})} for d in diags[:limit]]
        failed = any(d.severity is Severity.ERROR for d in diags)
        return {"result": "FAIL" if failed else "OK", "diagnostics": out, "truncated": len(diags) > limit}

    def test_state(self, definition: str, input: str | None = None, stateName: str | None = None,  # noqa: A002, N803
                   inspectionLevel: str = "INFO", mock: dict[str, Any] | None = None, variables: str | None = None,  # noqa: N803
                   context: str | None = None, stateConfiguration: dict[str, Any] | None = None,  # noqa: N803
                   roleArn: str | None = None, **_: Any) -> dict[str, Any]:  # noqa: N803
        """TestState: run one state (asl.teststate) under this service's account and region."""
        from .runtime import ExecutionOptions, VirtualClock
        from .teststate import TestStateError, test_state

        opts = ExecutionOptions(account=self.account, region=self.region, partition=self.partition,
                                machine_type="EXPRESS", sync=True, clock=VirtualClock(), tasks=self.tasks,
                                adapters=self.adapters)
        try:
            return test_state(definition, input, state_name=stateName, inspection_level=inspectionLevel, mock=mock,
                              variables=variables, context=context, state_configuration=stateConfiguration,
                              role_arn=roleArn, options=opts)
        except TestStateError as exc:
            raise ServiceError(exc.code, exc.message) from None

    def describe_state_machine(self, stateMachineArn: str, includedData: str = "ALL_DATA",  # noqa: N803
                               **_: Any) -> dict[str, Any]:
        arn = check_kind(stateMachineArn, "stateMachine")
        if version_arn(arn):
            sm = self._machine(self._unqualified(arn))
            v = self._lookup(arn, self.store.get_version, "StateMachineDoesNotExist")
            out = self._describe(v.arn, sm.name, v.definition, v.role_arn, v.type, v.created,
                                 revision_id(sm.arn, v.revision), includedData)
            if v.description is not None:
                out["description"] = v.description
            return out
        sm = self._machine(arn)
        return self._describe(sm.arn, sm.name, sm.definition, sm.role_arn, sm.type, sm.created,
                              revision_id(sm.arn, sm.revision), includedData)

    @staticmethod
    def _describe(arn: str, name: str, definition: str, role: str, machine_type: str, created: datetime, revision: str,
                  included: str) -> dict[str, Any]:
        return {"stateMachineArn": arn, "name": name, "status": "ACTIVE",
                "definition": "{}" if included == "METADATA_ONLY" else definition, "roleArn": role,
                "type": machine_type, "creationDate": created, "revisionId": revision,
                "loggingConfiguration": {"level": "OFF", "includeExecutionData": False},
                "tracingConfiguration": {"enabled": False}}

    def list_state_machines(self, maxResults: int = 0, nextToken: str | None = None, **_: Any) -> dict[str, Any]:  # noqa: N803
        items = [{"stateMachineArn": sm.arn, "name": sm.name, "type": sm.type, "creationDate": sm.created}
                 for sm in self.store.list_state_machines()]
        return paged("stateMachines", items, "stateMachines", maxResults, nextToken)

    def update_state_machine(self, stateMachineArn: str, definition: str | None = None,  # noqa: N803
                             roleArn: str | None = None, loggingConfiguration: Any = None,  # noqa: N803
                             tracingConfiguration: Any = None, publish: bool = False,  # noqa: N803
                             versionDescription: str | None = None, **_: Any) -> dict[str, Any]:  # noqa: N803
        sm = self._machine(stateMachineArn)
        if definition is None and roleArn is None and loggingConfiguration is None and tracingConfiguration is None:
            raise ServiceError("MissingRequiredParameter", "Either the definition, the role ARN, the "
                                                           "LoggingConfiguration, or the TracingConfiguration must be specified")
        if versionDescription is not None and not publish:
            raise ServiceError("ValidationException", "Version description can only be set when publish is true")
        self._check_logging(loggingConfiguration)
        if definition is not None:
            self._check_definition(definition, sm.type)
        now = wallclock.now()
        new_def, new_role = definition or sm.definition, roleArn or sm.role_arn
        revision = sm.revision + 1 if (new_def, new_role) != (sm.definition, sm.role_arn) else sm.revision
        new = StateMachineRecord(sm.arn, sm.name, new_def, new_role, sm.type, sm.created, revision)
        self.store.put_state_machine(new, replace=True)
        out: dict[str, Any] = {"updateDate": now, "revisionId": revision_id(sm.arn, revision)}
        if publish:
            version = self.store.publish_version(sm.arn, versionDescription, now)
            if version is not None:
                out["stateMachineVersionArn"] = version.arn
        return out

    def delete_state_machine(self, stateMachineArn: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        arn = check_kind(stateMachineArn, "stateMachine")
        if not unqualified_arn(arn):
            raise ServiceError("ValidationException", "Delete the version or alias with DeleteStateMachineVersion or "
                                                      f"DeleteStateMachineAlias: '{arn}'")
        self.store.delete_state_machine(arn)
        return {}

    # -- versions and aliases --------------------------------------------------------------------------------
    def publish_state_machine_version(self, stateMachineArn: str, revisionId: str | None = None,  # noqa: N803
                                      description: str | None = None, **_: Any) -> dict[str, Any]:
        sm = self._machine(stateMachineArn)
        current = revision_id(sm.arn, sm.revision)
        if revisionId is not None and revisionId != current:
            raise ServiceError("ConflictException", f"Failed to publish the State Machine version for revision "
                                                    f"{revisionId}. The current State Machine revision is {current}.")
        version = self.store.publish_version(sm.arn, description, wallclock.now())
        if version is None:
            raise ServiceError("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{sm.arn}'")
        return {"creationDate": version.created, "stateMachineVersionArn": version.arn}

    def list_state_machine_versions(self, stateMachineArn: str, maxResults: int = 0,  # noqa: N803
                                    nextToken: str | None = None, **_: Any) -> dict[str, Any]:  # noqa: N803
        sm = self._machine(stateMachineArn)
        items = [{"stateMachineVersionArn": v.arn, "creationDate": v.created} for v in self.store.list_versions(sm.arn)]
        return paged("stateMachineVersions", items, "versions:" + sm.arn, maxResults, nextToken)

    def delete_state_machine_version(self, stateMachineVersionArn: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        arn = check_kind(stateMachineVersionArn, "stateMachine")
        if not version_arn(arn):
            raise ServiceError("ValidationException", f"Invalid version ARN: '{arn}'")
        using = [a.arn for a in self.store.list_aliases(self._unqualified(arn)) if any(v == arn for v, _ in a.routing)]
        if using:
            raise ServiceError("ConflictException", "Version to be deleted must not be referenced by an alias. "
                                                    f"Current list of aliases referencing this version: [{', '.join(using)}]")
        self.store.delete_version(arn)
        return {}

    def _check_routing(self, routing: Any) -> tuple[tuple[str, int], ...]:
        arns = [r["stateMachineVersionArn"] for r in routing]
        shown = "[" + ", ".join(arns) + "]"
        if any(not version_arn(a) or arn_kind(a) != "stateMachine" for a in arns):
            raise ServiceError("ValidationException", f"Routing configuration must contain state machine version ARNs. "
                                                      f"Received: {shown}")
        if len(set(arns)) != len(arns):
            raise ServiceError("ValidationException", "Routing configuration must contain distinct state machine "
                                                      f"version ARNs. Received: {shown}")
        if len({self._unqualified(a) for a in arns}) > 1:
            raise ServiceError("ValidationException", "Routing configuration must contain versions of the same state "
                                                      f"machine. Received: {shown}")
        weights = [r["weight"] for r in routing]
        if sum(weights) != 100:
            raise ServiceError("ValidationException", "Sum of routing configuration weights must equal 100. "
                                                      f"Received: [{', '.join(str(w) for w in weights)}]")
        for a in arns:
            if self.store.get_version(a) is None:
                raise ServiceError("ResourceNotFound", "Request references a resource that does not exist.")
        return tuple(zip(arns, weights, strict=True))

    def create_state_machine_alias(self, name: str, routingConfiguration: Any, description: str | None = None,  # noqa: N803
                                   **_: Any) -> dict[str, Any]:
        routing = self._check_routing(routingConfiguration)
        sm = self._machine(self._unqualified(routing[0][0]))
        arn = f"{sm.arn}:{name}"
        now = wallclock.now()
        try:
            self.store.put_alias(AliasRecord(arn, sm.arn, name, routing, now, description))
        except Conflict:
            old = self.store.get_alias(arn)
            if old is None or (old.routing, old.description) != (routing, description):
                raise ServiceError("ConflictException", "Failed to create alias because an alias with the same name and "
                                                        "a different routing configuration already exists.") from None
            now = old.created
        return {"stateMachineAliasArn": arn, "creationDate": now}

    def _alias(self, arn: Any) -> AliasRecord:
        arn = check_kind(arn, "stateMachine")
        alias = self.store.get_alias(arn)
        if alias is None:
            raise ServiceError("ResourceNotFound", "Request references a resource that does not exist.")
        return alias

    def describe_state_machine_alias(self, stateMachineAliasArn: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        a = self._alias(stateMachineAliasArn)
        out: dict[str, Any] = {"stateMachineAliasArn": a.arn, "name": a.name,
                               "routingConfiguration": [{"stateMachineVersionArn": v, "weight": w} for v, w in a.routing],
                               "creationDate": a.created}
        if a.description is not None:
            out["description"] = a.description
        if a.updated is not None:
            out["updateDate"] = a.updated
        return out

    def update_state_machine_alias(self, stateMachineAliasArn: str, description: str | None = None,  # noqa: N803
                                   routingConfiguration: Any = None, **_: Any) -> dict[str, Any]:  # noqa: N803
        a = self._alias(stateMachineAliasArn)
        if description is None and routingConfiguration is None:
            raise ServiceError("ValidationException", "Either the description or the routingConfiguration must be "
                                                      "specified")
        routing = self._check_routing(routingConfiguration) if routingConfiguration is not None else a.routing
        now = wallclock.now()
        self.store.put_alias(AliasRecord(a.arn, a.state_machine_arn, a.name, routing, a.created,
                                         description if description is not None else a.description, now), replace=True)
        return {"updateDate": now}

    def delete_state_machine_alias(self, stateMachineAliasArn: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        arn = check_kind(stateMachineAliasArn, "stateMachine")
        if self.store.get_alias(arn) is None:
            raise ServiceError("ResourceNotFound", "Request references a resource that does not exist.")
        self.store.delete_alias(arn)
        return {}

    def list_state_machine_aliases(self, stateMachineArn: str, maxResults: int = 0,  # noqa: N803
                                   nextToken: str | None = None, **_: Any) -> dict[str, Any]:  # noqa: N803
        sm = self._machine(stateMachineArn)
        items = [{"stateMachineAliasArn": a.arn, "creationDate": a.created} for a in self.store.list_aliases(sm.arn)]
        return paged("stateMachineAliases", items, "aliases:" + sm.arn, maxResults, nextToken)

    # -- tags --------------------------------------------------------------------------------------------------
    def _taggable(self, arn: Any) -> str:
        arn = check_kind(arn, "stateMachine", "activity")
        exists = (self.store.get_activity(arn) if arn_kind(arn) == "activity"
                  else self.store.get_state_machine(arn) if unqualified_arn(arn) else None)
        if exists is None:
            raise ServiceError("ResourceNotFound", f"Resource not found: '{arn}'")
        return arn

    def _check_tags(self, tags: Any, arn: str, existing: dict[str, str]) -> None:
        if len(set(existing) | set(tag_dict(tags))) > MAX_TAGS:
            raise ServiceError("TooManyTags", f"Too many tags: a resource has at most {MAX_TAGS} tags: '{arn}'")

    def tag_resource(self, resourceArn: str, tags: Any, **_: Any) -> dict[str, Any]:  # noqa: N803
        arn = self._taggable(resourceArn)
        self._check_tags(tags, arn, self.store.tags(arn))
        self.store.set_tags(arn, tag_dict(tags))
        return {}

    def untag_resource(self, resourceArn: str, tagKeys: Any, **_: Any) -> dict[str, Any]:  # noqa: N803
        arn = self._taggable(resourceArn)
        self.store.set_tags(arn, {}, list(tagKeys))
        return {}

    def list_tags_for_resource(self, resourceArn: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        arn = self._taggable(resourceArn)
        return {"tags": [{"key": k, "value": v} for k, v in self.store.tags(arn).items()]}

    # -- executions --------------------------------------------------------------------------------------------
    def _test_case(self, sm: StateMachineRecord, case: str) -> Any:
        """The mocks of ``<stateMachineArn>#<case>``."""
        if self.mock_config is None:
            raise ServiceError("InvalidArn", f"Invalid Arn: '{sm.arn}#{case}' (a '#<TestCase>' suffix needs a mock "
                                             "configuration: start asl serve with --mock-config)")
        try:
            return self.mock_config.test_case(sm.name, case)
        except KeyError as exc:
            raise ServiceError("InvalidArn", f"Invalid Arn: '{sm.arn}#{case}': {exc.args[0]}") from None

    def _start(self, stateMachineArn: Any, name: Any, input: Any) -> tuple[Any, ...]:  # noqa: A002, N803
        """What StartExecution and StartSyncExecution check alike: the target, the test case, name and input."""
        arn, _, case = check_arn(stateMachineArn).partition("#")
        sm, version, alias = self._target(arn)
        mocks = self._test_case(sm, case) if case else None
        if mocks is not None:
            from .durable import _compiled

            problems = mocks.problems(_compiled((version or sm).definition))
            if problems:
                raise ServiceError("InvalidArn", f"Invalid Arn: '{sm.arn}#{case}': {'; '.join(problems)}")
        if name is not None:
            check_name(name)
        text = "{}" if input is None else check_json(input, "InvalidExecutionInput", "State Machine Execution Input")
        return sm, version, alias, case or None, mocks, text

    def start_execution(self, stateMachineArn: str, name: str | None = None, input: str | None = None,  # noqa: A002, N803
                        _parent_token: str | None = None, **_: Any) -> dict[str, Any]:
        """StartExecution. ``_parent_token`` (not an AWS parameter) links a child started by a parent's
        ``states:startExecution.sync`` task: its end closes that token. ``<stateMachineArn>#<TestCase>`` runs a
        test case of the mock configuration."""
        sm, version, alias, case, _, text = self._start(stateMachineArn, name, input)
        name = name if name is not None else str(uuid.uuid4())
        arn = self._arn("execution", sm.name, name)
        now = wallclock.now()
        runs = version or sm  # what the execution runs: a version, or the state machine's current revision
        role = runs.role_arn
        rec = ExecutionRecord(arn, sm.arn, name, RUNNING, text, runs.definition, runs.type, role, secrets.token_hex(16),
                              now, wake_at=now, parent_token=_parent_token, test_case=case,
                              version_arn=version.arn if version else None, alias_arn=alias.arn if alias else None)
        details: dict[str, Any] = {"input": text, "inputDetails": {"truncated": False}, "roleArn": role}
        if version is not None:
            details["stateMachineVersionArn"] = version.arn
        if alias is not None:
            details["stateMachineAliasArn"] = alias.arn
        started = {"id": 1, "previousEventId": 0, "timestamp": now, "type": "ExecutionStarted",
                   "executionStartedEventDetails": details}
        try:
            self.store.create_execution(rec, started)
        except Conflict:
            old = self.store.get_execution(arn)
            # AWS: the same name and input while it runs is the same request, answered again
            if old is not None and old.status == RUNNING and old.input == text:
                return {"executionArn": arn, "startDate": old.start}
            raise ServiceError("ExecutionAlreadyExists", f"Execution Already Exists: '{arn}'") from None
        return {"executionArn": arn, "startDate": now}

    def start_sync_execution(self, stateMachineArn: str, name: str | None = None, input: str | None = None,  # noqa: A002, N803
                             includedData: str = "ALL_DATA", **_: Any) -> dict[str, Any]:  # noqa: N803
        """StartSyncExecution: run an EXPRESS execution in this thread and answer with how it ended. Wait and Retry
        take real time, as on AWS; nested ``.sync`` executions are not available to it."""
        from .durable import _compiled
        from .runtime import ExecutionOptions, RealClock, run

        sm, version, alias, _, mocks, text = self._start(stateMachineArn, name, input)
        runs = version or sm
        if runs.type != "EXPRESS":
            raise ServiceError("StateMachineTypeNotSupported", "This operation is not supported by this type of state machine")
        name = name if name is not None else str(uuid.uuid4())
        arn = self._arn("express", sm.name, name, str(uuid.uuid4()))
        opts = ExecutionOptions(account=self.account, region=self.region, partition=self.partition,
                                state_machine_name=sm.name, execution_name=name, machine_type="EXPRESS", sync=True,
                                state_machine_arn=sm.arn, execution_arn=arn, role_arn=runs.role_arn, clock=RealClock(),
                                tasks=self.tasks, adapters=self._registry(),
                                mocks=mocks.start() if mocks is not None else None)
        start = wallclock.now()
        result = run(_compiled(runs.definition), text, opts)
        stop = wallclock.now()
        out: dict[str, Any] = {"executionArn": arn, "stateMachineArn": runs.arn, "name": name,
                               "startDate": start, "stopDate": stop, "status": result.status}
        if includedData != "METADATA_ONLY":
            out["input"] = text
            out["inputDetails"] = {"included": True}
            if result.output is not None:
                out["output"] = result.output
                out["outputDetails"] = {"included": True}
        put(out, error=result.error, cause=result.cause)
        millis = max(100, -(-int((stop - start).total_seconds() * 1000) // 100) * 100)
        out["billingDetails"] = {"billedMemoryUsedInMB": 64, "billedDurationInMilliseconds": millis}
        return out

    def _execution(self, arn: Any) -> ExecutionRecord:
        return self._lookup(check_kind(arn, "execution"), self.store.get_execution, "ExecutionDoesNotExist")

    def describe_execution(self, executionArn: str, includedData: str = "ALL_DATA", **_: Any) -> dict[str, Any]:  # noqa: N803
        ex = self._execution(executionArn)
        out: dict[str, Any] = {"executionArn": ex.arn, "stateMachineArn": ex.state_machine_arn, "name": ex.name,
                               "status": ex.status, "startDate": ex.start}
        if ex.stop is not None:
            out["stopDate"] = ex.stop
        if includedData != "METADATA_ONLY":
            out["input"] = ex.input
            out["inputDetails"] = {"included": True}
            if ex.status == SUCCEEDED:
                out["output"] = ex.output
                out["outputDetails"] = {"included": True}
        put(out, error=ex.error, cause=ex.cause, stateMachineVersionArn=ex.version_arn, stateMachineAliasArn=ex.alias_arn,
            mapRunArn=ex.map_run_arn)
        out.update(redrive_fields(ex, wallclock.now()))
        return out

    def describe_state_machine_for_execution(self, executionArn: str, includedData: str = "ALL_DATA",  # noqa: N803
                                             **_: Any) -> dict[str, Any]:
        """The definition the execution runs (a later UpdateStateMachine does not change it)."""
        ex = self._execution(executionArn)
        sm = self.store.get_state_machine(ex.state_machine_arn)
        name = sm.name if sm is not None else ex.state_machine_arn.split(":")[6]
        revision = next((v.revision for v in ([self.store.get_version(ex.version_arn)] if ex.version_arn else [])
                         if v is not None), None)
        if revision is None and sm is not None and sm.definition == ex.definition:
            revision = sm.revision
        out: dict[str, Any] = {"stateMachineArn": ex.state_machine_arn, "name": name,
                               "definition": "{}" if includedData == "METADATA_ONLY" else ex.definition,
                               "roleArn": ex.role_arn, "updateDate": ex.start,
                               "loggingConfiguration": {"level": "OFF", "includeExecutionData": False},
                               "tracingConfiguration": {"enabled": False}}
        if revision is not None:
            out["revisionId"] = revision_id(ex.state_machine_arn, revision)
        return out

    def list_executions(self, stateMachineArn: str | None = None, statusFilter: str | None = None,  # noqa: N803
                        maxResults: int = 0, nextToken: str | None = None, mapRunArn: str | None = None,  # noqa: N803
                        redriveFilter: str | None = None, **_: Any) -> dict[str, Any]:  # noqa: N803
        if mapRunArn is not None:
            if stateMachineArn is not None:
                raise ServiceError("ValidationException", "Must provide a StateMachine ARN or a MapRun ARN, not both")
            return paged("executions", self._map_run_children(mapRunArn, statusFilter), "executions:" + mapRunArn,
                         maxResults, nextToken)
        if stateMachineArn is None:
            raise ServiceError("ValidationException", "Must provide a StateMachine ARN or MapRun ARN")
        arn = check_kind(stateMachineArn, "stateMachine")
        qualified = not unqualified_arn(arn)
        sm = self._machine(self._unqualified(arn))
        items = []
        for ex in self.store.list_executions(sm.arn, statusFilter):
            if qualified and arn not in (ex.version_arn, ex.alias_arn):
                continue
            if redriveFilter is not None and (redriveFilter == "REDRIVEN") != (ex.redrive_count > 0):
                continue
            item: dict[str, Any] = {"executionArn": ex.arn, "stateMachineArn": ex.state_machine_arn, "name": ex.name,
                                    "status": ex.status, "startDate": ex.start}
            put(item, stopDate=ex.stop, stateMachineVersionArn=ex.version_arn, stateMachineAliasArn=ex.alias_arn)
            item["redriveCount"] = ex.redrive_count
            put(item, redriveDate=ex.redrive_date)
            items.append(item)
        return paged("executions", items, "executions:" + arn, maxResults, nextToken)

    def get_execution_history(self, executionArn: str, reverseOrder: bool = False,  # noqa: N803
                              includeExecutionData: bool = True, maxResults: int = 0, nextToken: str | None = None,  # noqa: N803
                              **_: Any) -> dict[str, Any]:
        ex = self._execution(executionArn)
        # A page is a range read of the store: the token holds the id of the last event given, so a page costs a
        # page however long the history. It is tied to the execution and the order, like any listing's token.
        kind = ("history-reverse:" if reverseOrder else "history:") + ex.arn
        after: int | None = None
        if nextToken is not None:
            try:
                k, sep, n = base64.urlsafe_b64decode(nextToken.encode()).decode().rpartition(":")
                if k != kind or not sep or not n.isdigit():
                    raise ValueError(nextToken)
                after = int(n)
            except (ValueError, binascii.Error, UnicodeDecodeError):
                raise ServiceError("InvalidToken", "Invalid Token: 'Invalid token'") from None
        size = maxResults if maxResults else 1000
        events = self.store.events(ex.arn, after_id=after, limit=size + 1, reverse=reverseOrder)
        page = [_public(e) for e in events[:size]]
        if not includeExecutionData:
            page = [_strip_data(e) for e in page]
        out: dict[str, Any] = {"events": page}
        if len(events) > size:  # one more than the page: there is a next one
            out["nextToken"] = base64.urlsafe_b64encode(f"{kind}:{page[-1]['id']}".encode()).decode()
        return out

    def stop_execution(self, executionArn: str, error: str | None = None, cause: str | None = None,  # noqa: N803
                       **_: Any) -> dict[str, Any]:
        before = self._execution(executionArn)
        now = wallclock.now()
        # a parent's .sync task fails with the child's abort, in the same store step as the abort
        parent = parent_outcome(before, ABORTED, now, None, error, cause) if before.parent_token else None
        ex = self.store.stop_execution(before.arn, error, cause, now, parent)
        assert ex is not None
        if before.status == RUNNING:
            # the worker log's line for it (a worker never sees an execution stopped while parked)
            worker_log.info("%s: aborted by StopExecution%s", before.arn, reason(error, cause))
            self._abort_map_runs(before.arn, now)
        return {"stopDate": ex.stop or now}

    # -- callbacks ---------------------------------------------------------------------------------------------
    @staticmethod
    def _on_token(token: Any, act: Callable[[str, datetime], TokenRecord | None]) -> dict[str, Any]:
        """Apply ``act`` (a store operation on a pending token) and map what the token was to AWS's errors."""
        if not isinstance(token, str) or not 1 <= len(token) <= 2048:
            raise ServiceError("InvalidToken", f"Invalid Token: '{token}'")
        before = act(token, wallclock.now())
        if before is None:
            raise ServiceError("TaskDoesNotExist", f"Task Does Not Exist: '{token}'")
        if before.status != PENDING:
            raise ServiceError("TaskTimedOut", f"Task Timed Out: '{token}'")
        return {}

    def send_task_success(self, taskToken: str, output: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        text = check_json(output, "InvalidOutput", "output")
        return self._on_token(taskToken, lambda t, now: self.store.close_token(t, SUCCEEDED, now, output=text))

    def send_task_failure(self, taskToken: str, error: str | None = None, cause: str | None = None,  # noqa: N803
                          **_: Any) -> dict[str, Any]:
        if error is not None and len(error) > 256:
            raise ServiceError("ValidationException", "error: longer than 256 characters")
        if cause is not None and len(cause) > 32768:
            raise ServiceError("ValidationException", "cause: longer than 32768 characters")
        return self._on_token(taskToken, lambda t, now: self.store.close_token(t, FAILED, now, error=error, cause=cause))

    def send_task_heartbeat(self, taskToken: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        return self._on_token(taskToken, self.store.heartbeat)

    # -- activities ------------------------------------------------------------------------------------------
    def create_activity(self, name: str, tags: Any = None, **_: Any) -> dict[str, Any]:
        check_name(name)
        arn = self._arn("activity", name)
        created = self.store.get_activity(arn) is None
        self.store.put_activity(ActivityRecord(arn, name, wallclock.now()))
        act = self.store.get_activity(arn)
        assert act is not None
        if tags and created:
            self._check_tags(tags, arn, existing={})
            self.store.set_tags(arn, tag_dict(tags))
        return {"activityArn": arn, "creationDate": act.created}

    def _activity(self, arn: Any) -> ActivityRecord:
        return self._lookup(check_kind(arn, "activity"), self.store.get_activity, "ActivityDoesNotExist")

    def describe_activity(self, activityArn: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        act = self._activity(activityArn)
        return {"activityArn": act.arn, "name": act.name, "creationDate": act.created}

    def list_activities(self, maxResults: int = 0, nextToken: str | None = None, **_: Any) -> dict[str, Any]:  # noqa: N803
        items = [{"activityArn": a.arn, "name": a.name, "creationDate": a.created} for a in self.store.list_activities()]
        return paged("activities", items, "activities", maxResults, nextToken)

    def delete_activity(self, activityArn: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        self.store.delete_activity(check_kind(activityArn, "activity"))
        return {}

    def get_activity_task(self, activityArn: str, workerName: str | None = None, **_: Any) -> dict[str, Any]:  # noqa: N803
        """Long-polls up to ``activity_poll_seconds`` (AWS: 60 s); ``{}`` when no task came."""
        act = self._activity(activityArn)
        end = time.monotonic() + self.activity_poll_seconds
        while True:
            tok = self.store.take_activity_task(act.arn, workerName, wallclock.now())
            if tok is not None:
                return {"taskToken": tok.token, "input": tok.input}
            if time.monotonic() >= end:
                return {}
            time.sleep(min(0.1, max(0.0, end - time.monotonic())))


make_boto3_shaped(StepFunctions)


def _public(ev: dict[str, Any]) -> dict[str, Any]:
    """An event as the API shows it: without the branch key the store keeps beside it for rebuilding."""
    if BRANCH not in ev:
        return ev
    return {k: v for k, v in ev.items() if k != BRANCH}


def _strip_data(ev: dict[str, Any]) -> dict[str, Any]:
    """An event without its input/output payloads (includeExecutionData=false)."""
    out = dict(ev)
    for k, v in ev.items():
        if k.endswith("EventDetails") and isinstance(v, dict):
            out[k] = {dk: dv for dk, dv in v.items() if dk not in ("input", "output", "parameters")}
    return out


def run_activity_worker(service: StepFunctions, activity_arn: str, handler: Any, worker_name: str | None = None,
                        max_tasks: int | None = None) -> int:
    """A small activity worker: poll ``activity_arn``, call ``handler(input)`` for each task and report its result
    (SendTaskSuccess) or exception (SendTaskFailure: error is the exception's class name, cause its message).
    Stops after ``max_tasks`` tasks, or when a poll returns nothing if ``max_tasks`` is 0. Returns the count."""
    done = 0
    while max_tasks is None or done < max_tasks:
        task = service.get_activity_task(activityArn=activity_arn, workerName=worker_name)
        if not task:
            if max_tasks == 0:
                return done
            continue
        try:
            result = handler(json.loads(task["input"]))
        except Exception as exc:  # the worker reports the task's failure instead of dying
            service.send_task_failure(taskToken=task["taskToken"], error=type(exc).__name__, cause=str(exc))
        else:
            service.send_task_success(taskToken=task["taskToken"], output=dumps_checked(result))
        done += 1
    return done


__all__ = ["ServiceError", "StepFunctions", "run_activity_worker"]
