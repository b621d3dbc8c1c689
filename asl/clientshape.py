"""What makes :class:`~asl.service.StepFunctions` a boto3-shaped client, for Python code that calls it directly:

- every operation method checks its arguments against botocore's model as a boto3 client does: an unknown or
  missing parameter, or one of the wrong type, is botocore's ``ParamValidationError`` (raised before anything runs,
  with boto3's report); a value the service refuses (a length, a range, an enum, a pattern) is a
  ``ValidationException``, as the service answers it;
- API errors are botocore ``ClientError`` s with the ``response`` boto3 gives them (``Error.Code``,
  ``Error.Message``, ``ResponseMetadata.HTTPStatusCode``), each of a class named after its code that is also an
  :class:`~asl.errors.ServiceError`; ``client.exceptions.ExecutionDoesNotExist`` and the like name those classes,
  as on a boto3 client;
- ``get_paginator`` and ``can_paginate`` as boto3's, from botocore's pagination model.

Arguments whose names start with ``_`` are asl's own (not AWS's) and are not checked; arguments given as None are
left out, as if not given.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

from .api import check_request, method_name, model
from .errors import RequestError, ServiceError

# The operations of botocore's stepfunctions model (tests/test_service.py holds this list to the model), named here
# so that wrapping the methods does not load the model (130 ms) when asl.service is imported.
OPERATIONS = (
    "CreateActivity", "CreateStateMachine", "CreateStateMachineAlias", "DeleteActivity", "DeleteStateMachine",
    "DeleteStateMachineAlias", "DeleteStateMachineVersion", "DescribeActivity", "DescribeExecution", "DescribeMapRun",
    "DescribeStateMachine", "DescribeStateMachineAlias", "DescribeStateMachineForExecution", "GetActivityTask",
    "GetExecutionHistory", "ListActivities", "ListExecutions", "ListMapRuns", "ListStateMachineAliases",
    "ListStateMachineVersions", "ListStateMachines", "ListTagsForResource", "PublishStateMachineVersion",
    "RedriveExecution", "SendTaskFailure", "SendTaskHeartbeat", "SendTaskSuccess", "StartExecution",
    "StartSyncExecution", "StopExecution", "TagResource", "TestState", "UntagResource", "UpdateMapRun",
    "UpdateStateMachine", "UpdateStateMachineAlias", "ValidateStateMachineDefinition")

# The HTTP status AWS answers each error code with (400 for the rest).
_STATUS = {"InternalFailure": 500, "ServiceUnavailable": 503, "ThrottlingException": 400}


@functools.cache
def error_class(code: str) -> Any:
    """The exception class of an API error code: a :class:`ServiceError` and a botocore ``ClientError``."""
    from botocore.exceptions import ClientError

    def init(self: Any, service_error: ServiceError, operation: str) -> None:
        self.code, self.message = service_error.code, service_error.message  # ServiceError's fields
        response = {"Error": {"Code": service_error.code, "Message": service_error.message},
                    "ResponseMetadata": {"HTTPStatusCode": _STATUS.get(service_error.code, 400)}}
        ClientError.__init__(self, response, operation)  # sets .response and .operation_name

    def text(self: Any) -> str:
        return f"{self.code}: {self.message}"

    return type(code, (ServiceError, ClientError), {"__init__": init, "__str__": text, "__module__": __name__})


class Exceptions:
    """``client.exceptions``: the error classes by code (any code AWS's model names, and any other on demand)."""

    def __getattr__(self, code: str) -> Any:
        if code.startswith("_"):
            raise AttributeError(code)
        return error_class(code)


def checked(operation: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` (an operation method) with its arguments checked and its errors made ``ClientError`` s."""

    @functools.wraps(fn)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        if args:
            raise TypeError(f"{method_name(operation)}() only accepts keyword arguments.")
        aws = {k: v for k, v in kwargs.items() if not k.startswith("_") and v is not None}
        own = {k: v for k, v in kwargs.items() if k.startswith("_")}
        try:
            _validate(operation, aws)
            return fn(self, **aws, **own)
        except ServiceError as exc:
            if isinstance(exc, error_class(exc.code)):
                raise
            raise error_class(exc.code)(exc, operation) from None

    return method


# Required members asl gives a default for, in Python only (the wire requires them, as AWS does): a local state
# machine needs no IAM role.
_OPTIONAL_HERE = {"CreateStateMachine": {"roleArn": "arn:aws:iam::123456789012:role/asl"}}


def _validate(operation: str, params: dict[str, Any]) -> None:
    from botocore.exceptions import ParamValidationError
    from botocore.validate import ParamValidator

    params = {**_OPTIONAL_HERE.get(operation, {}), **params}
    report = ParamValidator().validate(params, model().operation_model(operation).input_shape)
    if report.has_errors():
        raise ParamValidationError(report=report.generate_report())
    try:
        check_request(operation, params)
    except RequestError as exc:
        raise ServiceError(exc.code, exc.message) from None


def make_boto3_shaped(cls: type) -> type:
    """Wrap every operation method ``cls`` has (boto3's names) with :func:`checked`."""
    for operation in OPERATIONS:
        name = method_name(operation)
        fn = cls.__dict__.get(name) or next((vars(base)[name] for base in cls.__mro__ if name in vars(base)), None)
        if fn is not None and not hasattr(fn, "__wrapped__"):
            setattr(cls, name, checked(operation, fn))
    return cls


class Paginator:
    """boto3's paginator for one listing operation: ``paginate(**kwargs)`` yields its pages, with
    ``PaginationConfig`` (MaxItems, PageSize, StartingToken) as boto3 takes it."""

    def __init__(self, client: Any, operation: str, config: dict[str, Any]):
        self.client, self.operation, self.config = client, operation, config

    def paginate(self, PaginationConfig: dict[str, Any] | None = None, **kwargs: Any) -> PageIterator:  # noqa: N803
        """The pages, as boto3's PageIterator gives them (iterate, or ``build_full_result()``)."""
        return PageIterator(self, self._pages(PaginationConfig, kwargs))

    def _pages(self, PaginationConfig: dict[str, Any] | None, kwargs: dict[str, Any]) -> Iterator[dict[str, Any]]:  # noqa: N803
        paging = dict(PaginationConfig or {})
        token_in, token_out = self.config["input_token"], self.config["output_token"]
        limit_key, result_key = self.config.get("limit_key"), self.config["result_key"]
        left = paging.get("MaxItems")
        token = paging.get("StartingToken")
        call = getattr(self.client, method_name(self.operation))
        while True:
            args = dict(kwargs)
            if token is not None:
                args[token_in] = token
            if limit_key and paging.get("PageSize") is not None:
                args[limit_key] = paging["PageSize"]
            page = call(**args)
            if left is not None:
                page[result_key] = page[result_key][:left]
                left -= len(page[result_key])
            yield page
            token = page.get(token_out)
            if token is None or (left is not None and left <= 0):
                return


class PageIterator:
    """Pages of a listing: iterate over them, or ``build_full_result()`` for all the results in one response."""

    def __init__(self, paginator: Paginator, pages: Iterator[dict[str, Any]]):
        self.paginator, self._pages = paginator, pages

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self._pages

    def build_full_result(self) -> dict[str, Any]:
        key = self.paginator.config["result_key"]
        out: dict[str, Any] = {key: []}
        for page in self._pages:
            out[key].extend(page[key])
        return out


@functools.lru_cache(maxsize=1)
def _pagination() -> dict[str, dict[str, Any]]:
    import botocore.session

    paginators = botocore.session.get_session().get_paginator_model("stepfunctions")
    return {method_name(op): paginators.get_paginator(op) for op in model().operation_names
            if _has_paginator(paginators, op)}


def _has_paginator(paginators: Any, operation: str) -> bool:
    try:
        paginators.get_paginator(operation)
    except ValueError:
        return False
    return True


class PaginatedClient:
    """``get_paginator`` and ``can_paginate``, by boto3's method names."""

    def can_paginate(self, operation_name: str) -> bool:
        return operation_name in _pagination()

    def get_paginator(self, operation_name: str) -> Paginator:
        config = _pagination().get(operation_name)
        if config is None:
            from botocore.exceptions import OperationNotPageableError

            raise OperationNotPageableError(operation_name=operation_name)
        operation = next(op for op in OPERATIONS if method_name(op) == operation_name)
        return Paginator(self, operation, dict(config))

    @property
    def exceptions(self) -> Exceptions:
        return Exceptions()
