"""AWS service integrations through boto3, against moto (in-process, and moto's threaded server)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from asl.adapters import Adapters
from asl.adapters.aws import AwsServices, sdk_service_name
from asl.interpreter import ExecutionOptions, ExecutionResult, run
from asl.model import load

moto = pytest.importorskip("moto")

REGION = "us-east-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for k, v in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"), ("AWS_DEFAULT_REGION", REGION)):
        monkeypatch.setenv(k, v)
    import boto3

    with moto.mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        queue = sqs.create_queue(QueueName="orders")["QueueUrl"]
        topic = boto3.client("sns", region_name=REGION).create_topic(Name="shipped")["TopicArn"]
        ddb = boto3.client("dynamodb", region_name=REGION)
        ddb.create_table(TableName="orders", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        yield {"sqs": sqs, "queue": queue, "topic": topic, "ddb": ddb}


def task(resource: str, params: dict[str, Any], services: AwsServices | None = None, **extra: Any) -> ExecutionResult:
    adapters = Adapters()
    (services or AwsServices(region=REGION)).register_in(adapters)
    machine = load({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": resource, "Parameters": params,
                                                     "End": True, **extra}}})
    return run(machine, "{}", ExecutionOptions(adapters=adapters))


def test_sqs_send_message(aws: dict[str, Any]) -> None:
    r = task("arn:aws:states:::sqs:sendMessage", {"QueueUrl": aws["queue"], "MessageBody": {"order": 1}})
    assert r.status == "SUCCEEDED", r.cause
    out = r.output_value
    assert {"MessageId", "MD5OfMessageBody", "SdkHttpMetadata", "SdkResponseMetadata"} <= set(out)
    assert out["SdkHttpMetadata"]["HttpStatusCode"] == 200
    got = aws["sqs"].receive_message(QueueUrl=aws["queue"])["Messages"][0]["Body"]
    assert got == '{"order":1}'  # a JSON object body is sent as its JSON text


def test_sqs_errors_are_named_as_step_functions_names_them(aws: dict[str, Any]) -> None:
    r = task("arn:aws:states:::sqs:sendMessage", {"QueueUrl": aws["queue"].replace("orders", "nope"), "MessageBody": "x"})
    assert r.status == "FAILED" and (r.error or "").startswith("SQS.") and (r.error or "").endswith("Exception")
    assert "(Service: AmazonSQS; Status Code: 400; Error Code: " in (r.cause or "") and (r.cause or "").endswith("; Proxy: null)")
    r = task("arn:aws:states:::sqs:sendMessage", {"QueueUrl": aws["queue"]})
    assert r.error == "SQS.AmazonSQSException" and "MessageBody" in (r.cause or "")


def test_sns_publish(aws: dict[str, Any]) -> None:
    r = task("arn:aws:states:::sns:publish", {"TopicArn": aws["topic"], "Message": {"shipped": True}})
    assert r.status == "SUCCEEDED" and "MessageId" in r.output_value
    r = task("arn:aws:states:::sns:publish", {"TopicArn": aws["topic"] + "-missing", "Message": "x"})
    assert r.error == "SNS.NotFoundException" and "(Service: AmazonSNS; Status Code: 404; Error Code: NotFound;" in (r.cause or "")


def test_dynamodb_item_actions(aws: dict[str, Any]) -> None:
    key = {"id": {"S": "o1"}}
    assert task("arn:aws:states:::dynamodb:putItem", {"TableName": "orders", "Item": {**key, "n": {"N": "1"}}}).status == "SUCCEEDED"
    r = task("arn:aws:states:::dynamodb:updateItem", {"TableName": "orders", "Key": key, "UpdateExpression": "SET n = :v",
                                                       "ExpressionAttributeValues": {":v": {"N": "2"}}, "ReturnValues": "ALL_NEW"})
    assert r.output_value["Attributes"]["n"] == {"N": "2"}
    r = task("arn:aws:states:::dynamodb:getItem", {"TableName": "orders", "Key": key})
    assert r.output_value["Item"] == {"id": {"S": "o1"}, "n": {"N": "2"}} and "SdkResponseMetadata" in r.output_value
    assert task("arn:aws:states:::dynamodb:deleteItem", {"TableName": "orders", "Key": key}).status == "SUCCEEDED"
    assert "Item" not in task("arn:aws:states:::dynamodb:getItem", {"TableName": "orders", "Key": key}).output_value
    r = task("arn:aws:states:::dynamodb:getItem", {"TableName": "missing", "Key": key})
    assert r.error == "DynamoDB.ResourceNotFoundException"
    assert "(Service: AmazonDynamoDBv2; Status Code: 400; Error Code: ResourceNotFoundException;" in (r.cause or "")
    r = task("arn:aws:states:::dynamodb:putItem", {"TableName": "orders", "Item": key, "ConditionExpression": "attribute_exists(id)"})
    assert r.error == "DynamoDB.ConditionalCheckFailedException"


def test_eventbridge_put_events(aws: dict[str, Any]) -> None:
    r = task("arn:aws:states:::events:putEvents", {"Entries": [{"Source": "shop", "DetailType": "Order", "Detail": {"id": 1}}]})
    assert r.status == "SUCCEEDED", r.cause
    assert r.output_value["FailedEntryCount"] == 0 and len(r.output_value["Entries"]) == 1
    assert "SdkHttpMetadata" not in r.output_value  # as AWS records it for putEvents


def test_aws_sdk_integration_and_its_error_names(aws: dict[str, Any]) -> None:
    key = {"id": {"S": "o2"}}
    r = task("arn:aws:states:::aws-sdk:dynamodb:putItem", {"TableName": "orders", "Item": key})
    assert (r.status, r.output_value) == ("SUCCEEDED", {})
    r = task("arn:aws:states:::aws-sdk:dynamodb:putItem", {"TableName": "orders", "Item": key, "ConditionExpression": "attribute_not_exists(id)"})
    assert r.error == "DynamoDb.ConditionalCheckFailedException"
    assert (r.cause or "").endswith(")") and "(Service: DynamoDb, Status Code: 400, Request ID: " in (r.cause or "")
    r = task("arn:aws:states:::aws-sdk:s3:listObjects", {"Bucket": "no-such-bucket"})
    assert r.error == "S3.NoSuchBucketException" and "(Service: S3, Status Code: 404" in (r.cause or "")
    r = task("arn:aws:states:::aws-sdk:sqs:listQueues", {})
    assert r.output_value["QueueUrls"] == [aws["queue"]]
    assert [sdk_service_name(x) for x in ("DynamoDB", "SFN", "Secrets Manager")] == ["DynamoDb", "Sfn", "SecretsManager"]


def test_aws_sdk_parameters_and_results_are_pascal_case(aws: dict[str, Any]) -> None:
    """AWS documents aws-sdk parameters in PascalCase even where the service's API is camelCase (Step Functions'
    own: StateMachineArn), with DynamoDB's BOOL spelled Bool; results come back PascalCase too."""
    import boto3

    sfn = boto3.client("stepfunctions", region_name=REGION)
    machine = sfn.create_state_machine(name="target", roleArn="arn:aws:iam::123456789012:role/r",
                                       definition='{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}')
    r = task("arn:aws:states:::aws-sdk:sfn:startExecution",
             {"StateMachineArn": machine["stateMachineArn"], "Name": "run-1", "Input": None})
    assert r.status == "SUCCEEDED", r.cause
    assert set(r.output_value) == {"ExecutionArn", "StartDate"} and r.output_value["ExecutionArn"].endswith(":target:run-1")
    item = {"id": {"S": "o3"}, "paid": {"Bool": True}, "tags": {"Ss": ["a"]}}
    assert task("arn:aws:states:::aws-sdk:dynamodb:putItem", {"TableName": "orders", "Item": item}).status == "SUCCEEDED"
    assert aws["ddb"].get_item(TableName="orders", Key={"id": {"S": "o3"}})["Item"]["paid"] == {"BOOL": True}
    got = task("arn:aws:states:::aws-sdk:dynamodb:getItem", {"TableName": "orders", "Key": {"id": {"S": "o3"}}})
    assert got.output_value["Item"] == item


def test_a_null_parameter_is_not_sent(aws: dict[str, Any]) -> None:
    r = task("arn:aws:states:::sqs:sendMessage", {"QueueUrl": aws["queue"], "MessageBody": None})
    assert r.error == "SQS.AmazonSQSException" and "MessageBody" in (r.cause or "")


def test_a_request_the_service_rejects_is_answered_as_the_service_answers(aws: dict[str, Any]) -> None:
    """Step Functions' SDK does not check requests on the client: the service answers, in its own words (DynamoDB's
    common validation, SQS's MissingParameter), with a request id; boto3's client-side wording never shows."""
    import re

    r = task("arn:aws:states:::dynamodb:putItem", {"TableName": "orders"})
    assert r.error == "DynamoDB.AmazonDynamoDBException"
    assert re.fullmatch(r"1 validation error detected: Value null at 'item' failed to satisfy constraint: Member must "
                        r"not be null \(Service: AmazonDynamoDBv2; Status Code: 400; Error Code: ValidationException; "
                        r"Request ID: [0-9a-f-]{36}; Proxy: null\)", r.cause or ""), r.cause
    r = task("arn:aws:states:::dynamodb:putItem", {"TableName": "/orders", "Item": {"id": {"S": "1"}}})
    assert (r.cause or "").startswith("1 validation error detected: Value '/orders' at 'tableName' failed to satisfy "
                                      "constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ (")
    r = task("arn:aws:states:::dynamodb:getItem", {})
    assert (r.cause or "").startswith("2 validation errors detected: Value null at 'tableName' failed to satisfy "
                                      "constraint: Member must not be null; Value null at 'key' failed")
    r = task("arn:aws:states:::sqs:sendMessage", {"QueueUrl": aws["queue"]})
    assert r.error == "SQS.AmazonSQSException"
    assert (r.cause or "").startswith("The request must contain the parameter MessageBody. (Service: AmazonSQS; "
                                      "Status Code: 400; Error Code: MissingParameter; Request ID: ")
    r = task("arn:aws:states:::aws-sdk:dynamodb:query", {"TableName": "orders", "Limit": 0})
    assert r.error == "DynamoDb.DynamoDbException"
    assert re.fullmatch(r"1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must "
                        r"have value greater than or equal to 1 \(Service: DynamoDb, Status Code: 400, Request ID: "
                        r"[0-9a-f-]{36}\)", r.cause or ""), r.cause
    assert "Parameter validation failed" not in json.dumps([r.cause])


def test_an_endpoint_that_cannot_be_reached_is_an_sdk_client_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"), ("AWS_MAX_ATTEMPTS", "1")):
        monkeypatch.setenv(k, v)
    services = AwsServices(endpoint_url="http://127.0.0.1:9", region=REGION)
    r = task("arn:aws:states:::sqs:sendMessage", {"QueueUrl": "http://127.0.0.1:9/q", "MessageBody": "x"}, services)
    assert r.error == "SQS.SdkClientException" and (r.cause or "").startswith("Unable to execute HTTP request: ")
    r = task("arn:aws:states:::aws-sdk:sqs:listQueues", {}, services)
    assert r.error == "Sqs.SdkClientException"


def test_through_motos_threaded_server(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.server import ThreadedMotoServer

    for k, v in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(k, v)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        services = AwsServices(endpoint_url=f"http://{host}:{port}", region=REGION)
        queue = services.client("sqs", REGION).create_queue(QueueName="remote")["QueueUrl"]
        r = task("arn:aws:states:::sqs:sendMessage", {"QueueUrl": queue, "MessageBody": "hello"}, services)
        assert r.status == "SUCCEEDED", r.cause
        got = services.client("sqs", REGION).receive_message(QueueUrl=queue)["Messages"][0]["Body"]
        assert got == "hello"
    finally:
        server.stop()


def test_sqs_wait_for_task_token_answered_by_the_consumer(aws: dict[str, Any]) -> None:
    import json

    from asl.service import StepFunctions
    from asl.store import MemoryStore

    sfn = StepFunctions(MemoryStore())
    sm = sfn.create_state_machine(name="m", definition=json.dumps({"StartAt": "Ask", "States": {"Ask": {
        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "Parameters": {"QueueUrl": aws["queue"], "MessageBody": {"order": 1, "token.$": "$$.Task.Token"}}, "End": True}}}))
    arn = sfn.start_execution(stateMachineArn=sm["stateMachineArn"])["executionArn"]
    adapters = Adapters()
    AwsServices(region=REGION).register_in(adapters)
    worker = sfn.worker(adapters=adapters)
    worker.run_until_idle()
    body = json.loads(aws["sqs"].receive_message(QueueUrl=aws["queue"])["Messages"][0]["Body"])
    sfn.send_task_success(taskToken=body["token"], output=json.dumps({"shipped": body["order"]}))
    worker.run_until_idle()
    d = sfn.describe_execution(executionArn=arn)
    assert (d["status"], json.loads(d["output"])) == ("SUCCEEDED", {"shipped": 1})
    events = sfn.get_execution_history(executionArn=arn)["events"]
    submitted = next(e for e in events if e["type"] == "TaskSubmitted")
    assert "MessageId" in json.loads(submitted["taskSubmittedEventDetails"]["output"])
