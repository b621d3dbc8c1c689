"""AWS service integrations through boto3, against any endpoint (moto, LocalStack or AWS itself).

- Optimized integrations (``arn:aws:states:::sqs:sendMessage`` …): SQS sendMessage, SNS publish, DynamoDB
  getItem/putItem/updateItem/deleteItem, EventBridge putEvents, and Lambda invoke for functions that are not
  emulated locally. Their parameters and results are AWS's: ``MessageBody``/``Message``/``Detail`` given as JSON
  objects are sent as their JSON text, and results carry ``SdkHttpMetadata``/``SdkResponseMetadata`` as the
  optimized integrations return them. Errors are named as Step Functions names them (``SQS.AmazonSQSException``,
  ``DynamoDB.ResourceNotFoundException``, ``EventBridge.FailedEntry``) with its cause format.
- The generic AWS SDK integration (``arn:aws:states:::aws-sdk:<service>:<action>``): any boto3 client method,
  PascalCase parameters as in the API, errors ``<Service>.<ErrorShape>Exception`` (``DynamoDb.…``,
  ``S3.NoSuchBucketException``) or ``<Service>.<Service>Exception`` for unmodelled errors.

``.waitForTaskToken`` on these resources sends the request; the execution then waits for the token.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from datetime import UTC, date, datetime
from typing import Any

from ..errors import TaskFailed
from . import LAMBDA_UNKNOWN_CAUSE, TaskRequest, sdk_metadata
from .awsvalidation import service_validation

# Optimized integrations: service → (boto3 client, error prefix, SDK v1 service name for causes).
_OPTIMIZED = {
    "sqs": ("sqs", "SQS", "AmazonSQS"),
    "sns": ("sns", "SNS", "AmazonSNS"),
    "dynamodb": ("dynamodb", "DynamoDB", "AmazonDynamoDBv2"),
    "events": ("events", "EventBridge", "AmazonEventBridge"),
    "lambda": ("lambda", "Lambda", "AWSLambda"),
}
# Base exception classes of the AWS SDK for Java v1, named in errors for unmodelled error codes.
_V1_BASE = {"sqs": "AmazonSQSException", "sns": "AmazonSNSException", "dynamodb": "AmazonDynamoDBException",
            "events": "AmazonEventBridgeException", "lambda": "AWSLambdaException"}
# aws-sdk service names that differ from boto3's client names
_SDK_CLIENT = {"sfn": "stepfunctions", "eventbridge": "events"}


def _camel_to_snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def sdk_service_name(service_id: str) -> str:
    """The AWS SDK for Java v2 name of a service (the error prefix of aws-sdk integrations): ``DynamoDB`` →
    ``DynamoDb``, ``SFN`` → ``Sfn``, ``Secrets Manager`` → ``SecretsManager``, ``ACM PCA`` → ``AcmPca``."""
    words = re.split(r"[\s\-]+", service_id)
    return "".join(re.sub(r"[A-Z]{2,}(?![a-z])", lambda m: m.group(0)[0] + m.group(0)[1:].lower(), w[:1].upper() + w[1:])
                   for w in words if w)


def _jsonable(value: Any) -> Any:
    """A boto3 response as the JSON Step Functions returns: timestamps as ISO text, bytes as text."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    if hasattr(value, "read"):
        return _jsonable(value.read())
    return value


def _sdk_member_name(name: str) -> str:
    """A model member name as the aws-sdk integrations spell it (the AWS SDK for Java v2's names, PascalCase):
    ``stateMachineArn`` → ``StateMachineArn``, ``SS`` → ``Ss``, ``BOOL`` → ``Bool``, ``NULL`` → ``Nul``,
    ``Equals`` → ``EqualsValue``."""
    special = {"NULL": "Nul", "Equals": "EqualsValue"}
    if name in special:
        return special[name]
    if len(name) > 1 and name.isupper():
        return name[0] + name[1:].lower()
    return name[:1].upper() + name[1:]


def _to_api(value: Any, shape: Any) -> Any:
    """Parameters as written in a state machine (PascalCase) as the service model names them, following the
    operation's input shape; map keys and unknown fields are left as they are, for the SDK to reject."""
    if shape is None:
        return value
    if shape.type_name == "structure" and isinstance(value, dict):
        members = {_sdk_member_name(m): m for m in shape.members}
        members.update({m: m for m in shape.members})
        out = {}
        for k, v in value.items():
            if v is None:  # the SDK Step Functions uses sends a null field as an absent one
                continue
            name = members.get(k, k)
            out[name] = _to_api(v, shape.members.get(name))
        return out
    if shape.type_name == "list" and isinstance(value, list):
        return [_to_api(v, shape.member) for v in value]
    if shape.type_name == "map" and isinstance(value, dict):
        return {k: _to_api(v, shape.value) for k, v in value.items()}
    if shape.type_name == "blob" and isinstance(value, str):
        return value.encode("utf-8")
    return value


def _from_api(value: Any, shape: Any) -> Any:
    """A boto3 response as an aws-sdk integration returns it: member names PascalCase (the SDK for Java v2's
    names), timestamps ISO text, bytes text; map keys are data and stay as they are."""
    if shape is not None and shape.type_name == "structure" and isinstance(value, dict):
        return {_sdk_member_name(k): _from_api(v, shape.members.get(k)) for k, v in value.items()
                if k != "ResponseMetadata"}
    if shape is not None and shape.type_name == "list" and isinstance(value, list):
        return [_from_api(v, shape.member) for v in value]
    if shape is not None and shape.type_name == "map" and isinstance(value, dict):
        return {k: _from_api(v, shape.value) for k, v in value.items()}
    return _jsonable(value)


def _metadata(response: dict[str, Any]) -> dict[str, Any]:
    """The SDK metadata of a boto3 response, as optimized integrations return it."""
    meta = response.get("ResponseMetadata", {})
    headers = {k: str(v) for k, v in (meta.get("HTTPHeaders") or {}).items()}
    return sdk_metadata(headers, meta.get("HTTPStatusCode", 200), meta.get("RequestId", ""))


def _as_text(value: Any) -> Any:
    """A message body given as JSON is sent as its JSON text, as Step Functions sends it."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


class AwsServices:
    """The adapter for AWS services through boto3. ``endpoint_url`` and ``region`` choose where requests go
    (None: boto3's usual configuration); one client per service is made on first use and reused."""

    def __init__(self, endpoint_url: str | None = None, region: str | None = None, session: Any = None):
        self.endpoint_url = endpoint_url
        self.region = region
        self._session = session
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def register_in(self, adapters: Any) -> None:
        for service in _OPTIMIZED:
            adapters.register(f"arn:*:states:::{service}:*", self)
        adapters.register("arn:*:states:::aws-sdk:*", self)
        adapters.register("arn:*:lambda:*:*:function:*", self)

    def client(self, name: str, region: str) -> Any:
        with self._lock:
            c = self._clients.get(name)
            if c is None:
                import boto3

                session = self._session or boto3.session.Session()
                c = self._clients[name] = session.client(name, region_name=self.region or region,
                                                         endpoint_url=self.endpoint_url)
            return c

    # -- dispatch ------------------------------------------------------------------------------------------------
    def invoke(self, request: TaskRequest) -> Any:
        res = request.resource
        params = request.parameters if isinstance(request.parameters, dict) else {}
        if res.kind == "lambda":
            return self._lambda(request, {"FunctionName": res.arn, "Payload": request.parameters}, legacy=True)
        action = res.action[: -len(res.pattern)] if res.pattern else res.action
        if res.kind == "sdk":
            return self._sdk(request, res.service_name.split(":", 1)[1], action, params)
        if res.service_name == "lambda" and action == "invoke":
            return self._lambda(request, params, legacy=False)
        return self._optimized(request, res.service_name, action, params)

    def _call(self, client: Any, action: str, params: dict[str, Any]) -> dict[str, Any]:
        method = getattr(client, _camel_to_snake(action), None)
        if method is None:
            raise TaskFailed("States.Runtime", f"The action '{action}' is not supported by the service client")
        response: dict[str, Any] = method(**params)
        return response

    def _optimized(self, request: TaskRequest, service: str, action: str, params: dict[str, Any]) -> Any:
        from botocore.exceptions import ClientError, ParamValidationError
        from botocore.exceptions import ConnectionError as BotoConnectionError

        client_name, prefix, v1_name = _OPTIMIZED[service]
        # The SDK Step Functions uses sends a null field as an absent one (an SQS MessageBody of null gives
        # "The request must contain the parameter MessageBody.")
        params = {k: v for k, v in params.items() if v is not None}
        if service == "sqs" and "MessageBody" in params:
            params["MessageBody"] = _as_text(params["MessageBody"])
        if service == "sns" and "Message" in params:
            params["Message"] = _as_text(params["Message"])
        if service == "events" and isinstance(params.get("Entries"), list):
            params["Entries"] = [{**e, "Detail": _as_text(e["Detail"])} if isinstance(e, dict) and "Detail" in e else e
                                 for e in params["Entries"]]
        client = self.client(client_name, request.region)
        answer = service_validation(client.meta.service_model, action[:1].upper() + action[1:], params)
        if answer is not None:
            code, message = answer
            raise TaskFailed(f"{prefix}.{self._error_name(client, code, _V1_BASE[service])}",
                             f"{message} (Service: {v1_name}; Status Code: 400; Error Code: {code}; "
                             f"Request ID: {uuid.uuid4()}; Proxy: null)")
        try:
            response = self._call(client, action, params)
        except ClientError as exc:
            raise self._v1_error(client, service, prefix, v1_name, exc) from None
        except BotoConnectionError as exc:
            raise TaskFailed(f"{prefix}.SdkClientException", f"Unable to execute HTTP request: {exc}") from None
        except ParamValidationError as exc:
            raise TaskFailed(f"{prefix}.{_V1_BASE[service]}", f"{exc} (Service: {v1_name}; Status Code: 400; "
                                                            "Error Code: ValidationException; Proxy: null)") from None
        body = _jsonable(response)
        if service == "events":
            if body.get("FailedEntryCount"):
                raise TaskFailed("EventBridge.FailedEntry", json.dumps(body, separators=(",", ":")))
            return body
        return {**body, **_metadata(response)}

    @staticmethod
    def _error_name(client: Any, code: str, unmodelled: str) -> str:
        """The exception class the SDK has for an error code: the error shape the service models for it (e.g. SNS
        ``InvalidParameter`` → ``InvalidParameterException``), else ``unmodelled`` (the SDK's base class)."""
        for shape in client.meta.service_model.error_shapes:
            if shape.name == code or (shape.metadata.get("error") or {}).get("code") == code:
                return str(shape.name) if shape.name.endswith("Exception") else f"{shape.name}Exception"
        return unmodelled

    def _v1_error(self, client: Any, service: str, prefix: str, v1_name: str, exc: Any) -> TaskFailed:
        err = exc.response.get("Error", {})
        code = err.get("Code", "Unknown")
        meta = exc.response.get("ResponseMetadata", {})
        name = self._error_name(client, code, _V1_BASE[service])
        cause = (f"{err.get('Message', '')} (Service: {v1_name}; Status Code: {meta.get('HTTPStatusCode', 400)}; "
                 f"Error Code: {code}; Request ID: {meta.get('RequestId', '')}; Proxy: null)")
        return TaskFailed(f"{prefix}.{name}", cause)

    def _sdk(self, request: TaskRequest, service: str, action: str, params: dict[str, Any]) -> Any:
        from botocore.exceptions import ClientError, ParamValidationError, UnknownServiceError
        from botocore.exceptions import ConnectionError as BotoConnectionError

        try:
            client = self.client(_SDK_CLIENT.get(service, service), request.region)
        except UnknownServiceError:
            raise TaskFailed("States.Runtime", f"The service '{service}' is not known to the AWS SDK") from None
        prefix = sdk_service_name(client.meta.service_model.service_id)
        operation_name = action[:1].upper() + action[1:]
        try:
            operation = client.meta.service_model.operation_model(operation_name)
        except Exception:  # botocore's OperationNotFoundError; named in the error below
            raise TaskFailed("States.Runtime", f"The action '{action}' is not supported by the service client") from None
        api_params = _to_api(params, operation.input_shape)
        answer = service_validation(client.meta.service_model, operation_name, api_params)
        if answer is not None:
            code, message = answer
            raise TaskFailed(f"{prefix}.{self._error_name(client, code, f'{prefix}Exception')}",
                             f"{message} (Service: {prefix}, Status Code: 400, Request ID: {uuid.uuid4()})")
        try:
            response = self._call(client, operation_name, api_params)
        except ClientError as exc:
            err = exc.response.get("Error", {})
            code = err.get("Code", "Unknown")
            meta = exc.response.get("ResponseMetadata", {})
            name = self._error_name(client, code, f"{prefix}Exception")
            extended = f", Extended Request ID: {meta['HostId']}" if meta.get("HostId") else ""
            cause = f"{err.get('Message', '')} (Service: {prefix}, Status Code: {meta.get('HTTPStatusCode', 400)}, " \
                    f"Request ID: {meta.get('RequestId', '')}{extended})"
            raise TaskFailed(f"{prefix}.{name}", cause) from None
        except ParamValidationError as exc:
            raise TaskFailed(f"{prefix}.{prefix}Exception", f"{exc} (Service: {prefix}, Status Code: 400)") from None
        except BotoConnectionError as exc:
            raise TaskFailed(f"{prefix}.SdkClientException", f"Unable to execute HTTP request: {exc}") from None
        return _from_api(response, operation.output_shape)

    def _lambda(self, request: TaskRequest, params: dict[str, Any], legacy: bool) -> Any:
        from botocore.exceptions import ClientError

        client = self.client("lambda", request.region)
        call = {k: v for k, v in params.items() if k in ("FunctionName", "InvocationType", "Qualifier", "ClientContext", "LogType")}
        call["Payload"] = json.dumps(params.get("Payload"))
        try:
            response = client.invoke(**call)
        except ClientError as exc:
            raise self._v1_error(client, "lambda", "Lambda", "AWSLambda", exc) from None
        text = response["Payload"].read().decode("utf-8") if response.get("Payload") is not None else ""
        if response.get("FunctionError"):
            try:
                body = json.loads(text)
            except ValueError:
                body = {}
            if isinstance(body, dict) and body.get("errorType"):
                raise TaskFailed(body["errorType"], text if legacy else json.dumps(body, separators=(",", ":")))
            raise TaskFailed("Lambda.Unknown", LAMBDA_UNKNOWN_CAUSE.format(text))
        payload = json.loads(text) if text else None
        if legacy:
            return payload
        out = {"ExecutedVersion": response.get("ExecutedVersion", "$LATEST"), "Payload": payload,
               "StatusCode": response.get("StatusCode", 200)}
        return {**out, **_metadata(response)}


