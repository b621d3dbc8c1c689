"""A Distributed Map's ItemReader (S3, against moto) and ItemBatcher: the items each format gives, MaxItems, errors
as States.ItemReaderFailed, and batches of read items."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import pytest

from asl.adapters import Adapters
from asl.adapters.aws import AwsServices
from asl.interpreter import ExecutionOptions, ExecutionResult, run
from asl.model import load

moto = pytest.importorskip("moto")
REGION = "us-east-1"
BUCKET = "data"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for k, v in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"), ("AWS_DEFAULT_REGION", REGION)):
        monkeypatch.setenv(k, v)
    import boto3

    with moto.mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET)
        yield client


def read(reader: dict[str, Any], extra: dict[str, Any] | None = None, data: Any = None,
         ql: str | None = None) -> ExecutionResult:
    """A Distributed Map whose children return their input, over what ``reader`` reads."""
    adapters = Adapters()
    AwsServices(region=REGION).register_in(adapters)
    definition: dict[str, Any] = {"StartAt": "M", "States": {"M": {
        "Type": "Map", "ItemReader": reader, **(extra or {}), "End": True,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}, "StartAt": "P",
                          "States": {"P": {"Type": "Pass", "End": True}}}}}}
    if ql:
        definition["QueryLanguage"] = ql
    return run(load(definition), json.dumps(data or {}), ExecutionOptions(adapters=adapters))


def get(key: str, input_type: str, **config: Any) -> dict[str, Any]:
    return {"Resource": "arn:aws:states:::s3:getObject", "Parameters": {"Bucket": BUCKET, "Key": key},
            "ReaderConfig": {"InputType": input_type, **config}}


def test_a_json_array_gives_its_items_and_max_items_stops_early(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="a.json", Body=json.dumps([{"n": 1}, {"n": 2}, {"n": 3}]))
    r = read(get("a.json", "JSON"))
    assert r.status == "SUCCEEDED" and r.output_value == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert read(get("a.json", "JSON", MaxItems=2)).output_value == [{"n": 1}, {"n": 2}]
    assert read(get("a.json", "JSON", MaxItems=0)).output_value == [{"n": 1}, {"n": 2}, {"n": 3}]  # 0: all
    started = next(e for e in r.history if e["type"] == "MapStateStarted")
    assert started["mapStateStartedEventDetails"] == {"length": 0}  # as AWS reports a reader's Map


def test_items_path_is_not_applied_to_what_the_reader_reads(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="a.json", Body='[["from-bucket"]]')
    r = read(get("a.json", "JSON"), {"ItemsPath": "$.elsewhere"}, {"elsewhere": ["from-input"]})
    assert r.output_value == [["from-bucket"]]


def test_jsonl_and_csv(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="a.jsonl", Body=b'{"n": 1}\n\n"two"\n[3]\n')
    assert read(get("a.jsonl", "JSONL")).output_value == [{"n": 1}, "two", [3]]
    s3.put_object(Bucket=BUCKET, Key="a.csv", Body=b'id,name\n1,"Ada, Lovelace"\n2,Alan\n')
    assert read(get("a.csv", "CSV", CSVHeaderLocation="FIRST_ROW")).output_value == \
        [{"id": "1", "name": "Ada, Lovelace"}, {"id": "2", "name": "Alan"}]
    s3.put_object(Bucket=BUCKET, Key="b.csv", Body=b"1|x\n2|y\n3|z\n")
    given = get("b.csv", "CSV", CSVHeaderLocation="GIVEN", CSVHeaders=["id", "v"], CSVDelimiter="PIPE", MaxItems=2)
    assert read(given).output_value == [{"id": "1", "v": "x"}, {"id": "2", "v": "y"}]
    duplicated = get("b.csv", "CSV", CSVHeaderLocation="GIVEN", CSVHeaders=["id", "id"], CSVDelimiter="PIPE")
    r = read(duplicated)
    assert (r.status, r.error, r.cause) == ("FAILED", "States.ItemReaderFailed", "CSV headers cannot contain duplicates.")


def test_list_objects_v2_gives_one_item_an_object(s3: Any) -> None:
    for key in ("in/a.txt", "in/b.txt", "out/c.txt"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"12345")
    reader = {"Resource": "arn:aws:states:::s3:listObjectsV2", "Parameters": {"Bucket": BUCKET, "Prefix": "in/"}}
    out = read(reader).output_value
    assert [o["Key"] for o in out] == ["in/a.txt", "in/b.txt"]
    assert set(out[0]) == {"Etag", "Key", "LastModified", "Size", "StorageClass"}
    assert out[0]["Size"] == 5 and isinstance(out[0]["LastModified"], int) and out[0]["StorageClass"] == "STANDARD"


def test_an_s3_inventory_manifest_gives_the_rows_of_its_files(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="inv/data/1.csv.gz", Body=gzip.compress(b'"data","k1","10"\n"data","k2","20"\n'))
    s3.put_object(Bucket=BUCKET, Key="inv/manifest.json", Body=json.dumps({
        "sourceBucket": BUCKET, "destinationBucket": f"arn:aws:s3:::{BUCKET}", "fileFormat": "CSV",
        "fileSchema": "Bucket, Key, Size", "files": [{"key": "inv/data/1.csv.gz", "size": 1}]}))
    assert read(get("inv/manifest.json", "MANIFEST")).output_value == \
        [{"Bucket": "data", "Key": "k1", "Size": "10"}, {"Bucket": "data", "Key": "k2", "Size": "20"}]


def test_reader_failures(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="o.json", Body=b'{"not": "an array"}')
    r = read(get("o.json", "JSON"))
    assert (r.error, r.cause) == ("States.ItemReaderFailed", "Attempting to map over non-iterable node.")
    r = read(get("missing.json", "JSON"))
    assert r.error == "States.ItemReaderFailed" and "(Service: S3, Status Code: 404" in (r.cause or "")
    r = read(get("o.json", "JSON", MaxItemsPath="$.max"), data={"max": -1})
    assert (r.error, r.cause) == ("States.ItemReaderFailed", "field MaxItems must be positive")


def test_jsonata_arguments_and_batches_of_read_items(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="a.json", Body=json.dumps(list(range(5))))
    reader = {"Resource": "arn:aws:states:::s3:getObject", "Arguments": {"Bucket": "{% $states.input.b %}", "Key": "a.json"},
              "ReaderConfig": {"InputType": "JSON", "MaxItems": "{% $states.input.max %}"}}
    r = read(reader, {"ItemBatcher": {"MaxItemsPerBatch": 2}}, {"b": BUCKET, "max": 4}, ql="JSONata")
    assert r.status == "SUCCEEDED", r.cause
    assert r.output_value == [{"Items": [0, 1]}, {"Items": [2, 3]}]


def test_without_an_aws_adapter_the_reader_says_what_to_configure() -> None:
    r = run(load({"StartAt": "M", "States": {"M": {
        "Type": "Map", "ItemReader": get("a.json", "JSON"), "End": True,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED"}, "StartAt": "P",
                          "States": {"P": {"Type": "Pass", "End": True}}}}}}), "{}")
    assert r.error == "States.ItemReaderFailed" and "--aws-endpoint" in (r.cause or "")


def processor(states: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "P",
            "States": states or {"P": {"Type": "Pass", "End": True}}}


def run_map(state: dict[str, Any], data: Any) -> ExecutionResult:
    adapters = Adapters()
    AwsServices(region=REGION).register_in(adapters)
    definition = {"StartAt": "M", "States": {"M": {"Type": "Map", "End": True, **state}}}
    return run(load(definition), json.dumps(data), ExecutionOptions(adapters=adapters))


def test_a_csv_read_batched_and_written_back_gives_the_manifest_and_results_aws_documents(s3: Any) -> None:
    """The issue's proof: a CSV with a header row read from S3, batched 10 at a time, written with ResultWriter."""
    rows = "".join(f"{i},item-{i}\n" for i in range(25))
    s3.put_object(Bucket=BUCKET, Key="in/rows.csv", Body=f"id,name\n{rows}".encode())
    r = run_map({"ItemReader": get("in/rows.csv", "CSV", CSVHeaderLocation="FIRST_ROW"),
                 "ItemBatcher": {"MaxItemsPerBatch": 10},
                 "ItemProcessor": processor({"P": {"Type": "Pass", "Parameters": {"count.$": "States.ArrayLength($.Items)",
                                                                                  "first.$": "$.Items[0].id"}, "End": True}}),
                 "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject",
                                  "Parameters": {"Bucket": BUCKET, "Prefix": "out"}}}, {})
    assert r.status == "SUCCEEDED", r.cause
    out = r.output_value
    assert set(out) == {"MapRunArn", "ResultWriterDetails"} and ":mapRun:" in out["MapRunArn"]
    run_id = out["MapRunArn"].rpartition(":")[2]
    assert out["ResultWriterDetails"] == {"Bucket": BUCKET, "Key": f"out/{run_id}/manifest.json"}
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=f"out/{run_id}/manifest.json")["Body"].read())
    key = f"out/{run_id}/SUCCEEDED_0.json"
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert manifest == {"DestinationBucket": BUCKET, "MapRunArn": out["MapRunArn"],
                        "ResultFiles": {"FAILED": [], "PENDING": [], "SUCCEEDED": [{"Key": key, "Size": len(body)}]}}
    records = json.loads(body)
    assert [json.loads(rec["Output"]) for rec in records] == \
        [{"count": 10, "first": "0"}, {"count": 10, "first": "10"}, {"count": 5, "first": "20"}]
    first = records[0]
    assert json.loads(first["Input"])["Items"][0] == {"id": "0", "name": "item-0"}
    assert first["Status"] == "SUCCEEDED" and first["InputDetails"] == {"Included": True}
    assert first["ExecutionArn"].endswith(":" + first["Name"]) and ":execution:" in first["ExecutionArn"]
    assert first["StartDate"].endswith("Z") and first["StopDate"] >= first["StartDate"]


def test_writer_config_shapes_the_result_without_s3(s3: Any) -> None:
    items = {"ItemsPath": "$.xs", "ItemProcessor": processor()}
    data = {"xs": [[1, 2], [3], 4]}
    compact = run_map({**items, "ResultWriter": {"WriterConfig": {"Transformation": "COMPACT", "OutputType": "JSON"}}}, data)
    assert compact.output_value == [[1, 2], [3], 4]
    flat = run_map({**items, "ResultWriter": {"WriterConfig": {"Transformation": "FLATTEN", "OutputType": "JSON"}}}, data)
    assert flat.output_value == [1, 2, 3, 4]
    none = run_map({**items, "ResultWriter": {"WriterConfig": {"Transformation": "NONE", "OutputType": "JSON"}}}, data)
    assert [json.loads(rec["Output"]) for rec in none.output_value] == [[1, 2], [3], 4]


def test_failed_children_go_to_failed_files_and_jsonl(s3: Any) -> None:
    r = run_map({"ItemsPath": "$.xs", "ToleratedFailurePercentage": 50,
                 "ItemProcessor": processor({"P": {"Type": "Choice", "Choices": [
                     {"Variable": "$", "NumericEquals": 2, "Next": "F"}], "Default": "S"},
                     "F": {"Type": "Fail", "Error": "Two", "Cause": "no twos"}, "S": {"Type": "Succeed"}}),
                 "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": BUCKET},
                                  "WriterConfig": {"Transformation": "COMPACT", "OutputType": "JSONL"}}}, {"xs": [1, 2, 3]})
    assert r.status == "SUCCEEDED", r.cause
    run_id = r.output_value["MapRunArn"].rpartition(":")[2]
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=f"{run_id}/manifest.json")["Body"].read())
    assert [f["Key"] for f in manifest["ResultFiles"]["SUCCEEDED"]] == [f"{run_id}/SUCCEEDED_0.jsonl"]
    succeeded = s3.get_object(Bucket=BUCKET, Key=f"{run_id}/SUCCEEDED_0.jsonl")["Body"].read().decode()
    assert succeeded == "1\n3\n"
    failed = s3.get_object(Bucket=BUCKET, Key=f"{run_id}/FAILED_0.jsonl")["Body"].read().decode().splitlines()
    record = json.loads(failed[0])  # a failed child is always its record
    assert (record["Status"], record["Error"], record["Cause"], record["Input"]) == ("FAILED", "Two", "no twos", "2")


def test_a_result_writer_that_cannot_write_fails_the_map(s3: Any) -> None:
    r = run_map({"ItemsPath": "$.xs", "ItemProcessor": processor(),
                 "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "no-such-bucket"}}},
                {"xs": [1]})
    assert r.error == "States.ResultWriterFailed" and "(Service: S3, Status Code: 404" in (r.cause or "")


def _loop_child(execution_type: str) -> dict[str, Any]:
    """A child whose history passes 25,000 events (6,300 loops of 4 events)."""
    return {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": execution_type}, "StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericLessThan": 6300, "Next": "P"}], "Default": "D"},
        "P": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, 1)"}, "Next": "C"},
        "D": {"Type": "Succeed"}}}


def test_a_childs_history_limit_fails_that_child_not_the_parent() -> None:
    """Each child is an execution with a history of its own: a STANDARD child past 25,000 events fails (and the Map's
    tolerance counts it); an EXPRESS child has no history limit."""
    state = {"ItemsPath": "$.xs", "ToleratedFailurePercentage": 100, "ItemProcessor": _loop_child("STANDARD")}
    r = run_map(state, {"xs": [{"n": 0}, {"n": 6299}]})
    assert r.status == "SUCCEEDED", r.cause
    assert r.output_value == [None, {"n": 6300}]
    r = run_map({"ItemsPath": "$.xs", "ItemProcessor": _loop_child("STANDARD")}, {"xs": [{"n": 0}]})
    assert (r.status, r.error) == ("FAILED", "States.Runtime")
    assert (r.cause or "").endswith("The execution reached the maximum number of history events (25000).")
    assert [e["type"] for e in r.history][-3:] == ["MapRunFailed", "MapStateFailed", "ExecutionFailed"]
    r = run_map({"ItemsPath": "$.xs", "ItemProcessor": _loop_child("EXPRESS")}, {"xs": [{"n": 0}]})
    assert r.status == "SUCCEEDED" and r.output_value == [{"n": 6300}]


def test_a_writer_or_batcher_failure_ends_the_map_run(s3: Any) -> None:
    r = run_map({"ItemsPath": "$.xs", "ItemProcessor": processor(),
                 "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "no-such-bucket"}}},
                {"xs": [1]})
    types = [e["type"] for e in r.history]
    assert types[-4:] == ["MapRunStarted", "MapRunFailed", "MapStateFailed", "ExecutionFailed"]
    failed = next(e for e in r.history if e["type"] == "MapRunFailed")["mapRunFailedEventDetails"]
    assert failed["error"] == "States.ResultWriterFailed"
    r = run_map({"ItemsPath": "$.xs", "ItemProcessor": processor(), "ItemBatcher": {"MaxInputBytesPerBatch": 20}},
                {"xs": ["x" * 50]})
    assert [e["type"] for e in r.history][-4:] == ["MapRunStarted", "MapRunFailed", "MapStateFailed", "ExecutionFailed"]


def test_unreadable_objects_are_reader_failures(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import asl.runtime.distributed as distributed

    s3.put_object(Bucket=BUCKET, Key="wide.csv", Body=b"a\n" + b"x" * 200_000 + b"\n")
    r = read(get("wide.csv", "CSV"))
    assert r.error == "States.ItemReaderFailed" and "field larger than field limit" in (r.cause or "")
    s3.put_object(Bucket=BUCKET, Key="inv/1.csv.gz", Body=b"not gzip")
    s3.put_object(Bucket=BUCKET, Key="inv/manifest.json", Body=json.dumps({
        "destinationBucket": f"arn:aws:s3:::{BUCKET}", "fileSchema": "Bucket, Key", "files": [{"key": "inv/1.csv.gz"}]}))
    r = read(get("inv/manifest.json", "MANIFEST"))
    assert r.error == "States.ItemReaderFailed" and "BadGzipFile" in (r.cause or "")
    monkeypatch.setattr(distributed, "MAX_LINE", 1000)
    s3.put_object(Bucket=BUCKET, Key="long.jsonl", Body=b'"short"\n"' + b"y" * 5000 + b'"\n')
    r = read(get("long.jsonl", "JSONL"))
    assert (r.error, r.cause) == ("States.ItemReaderFailed", "Line 2 of the object is longer than 1000 bytes")
    monkeypatch.setattr(distributed, "MAX_JSON_OBJECT", 10)
    s3.put_object(Bucket=BUCKET, Key="big.json", Body=b"[1, 2, 3, 4, 5, 6]")
    r = read(get("big.json", "JSON"))
    assert r.error == "States.ItemReaderFailed" and "at most 10 bytes" in (r.cause or "")


def test_jsonl_lines_across_chunks(s3: Any) -> None:
    lines = [json.dumps({"i": i, "pad": "z" * (i * 997 % 3000)}) for i in range(2000)]  # ~3 MiB: several 1 MiB chunks
    s3.put_object(Bucket=BUCKET, Key="many.jsonl", Body=("\n".join(lines)).encode())  # no final newline
    r = read(get("many.jsonl", "JSONL"), {"ItemSelector": {"i.$": "$$.Map.Item.Value.i"}})  # a small result
    assert r.status == "SUCCEEDED", r.cause
    assert [o["i"] for o in r.output_value] == list(range(2000))


def test_writer_config_keeps_failed_children_in_their_place() -> None:
    state = {"ItemsPath": "$.xs", "ToleratedFailureCount": 5,
             "ItemProcessor": processor({"P": {"Type": "Choice", "Choices": [
                 {"Variable": "$", "NumericEquals": 2, "Next": "F"}], "Default": "S"},
                 "F": {"Type": "Fail", "Error": "Two"}, "S": {"Type": "Succeed"}}),
             "ResultWriter": {"WriterConfig": {"Transformation": "COMPACT", "OutputType": "JSON"}}}
    out = run_map(state, {"xs": [1, 2, 3]}).output_value
    assert out[0] == 1 and out[2] == 3 and out[1]["Status"] == "FAILED" and out[1]["Error"] == "Two"
