"""What a Distributed Map does with its items before its children run: ItemReader reads them from Amazon S3, and
ItemBatcher groups them into batches, each batch the input of one child, ``{"BatchInput": ..., "Items": [...]}``.

ResultWriter: the children's results as the state's result in the form WriterConfig asks (Transformation NONE: each
child's execution record, COMPACT: its output, FLATTEN: its output with arrays flattened; a failed child always as
its record), and with ``s3:putObject`` Parameters written to ``<Prefix>/<Map Run id>/``: ``SUCCEEDED_0.json`` and
``FAILED_0.json`` (JSON arrays, or JSON Lines in ``.jsonl`` files) and ``manifest.json`` listing them; the result is
then ``{"MapRunArn", "ResultWriterDetails": {"Bucket", "Key"}}``. Writing fails with ``States.ResultWriterFailed``.

Tests without S3: when the mock configuration of a test case (``asl test``, Step Functions Local's format) mocks a
Distributed Map state, its mocked response's Return is the array of items the ItemReader reads (a Throw is the
reader's error), and its ResultWriter writes nothing, giving the same result as if it had.

ItemReader: ``s3:getObject`` reads one object as InputType JSON (an array), JSONL (a value a line), CSV (a row an
object, keyed by the first row or by CSVHeaders) or MANIFEST (an S3 Inventory manifest: the rows of its CSV
files); ``s3:listObjectsV2`` gives one item an object under a prefix. ReaderConfig.MaxItems (or MaxItemsPath)
stops reading after that many items. With an ItemReader, ItemsPath is not applied (AWS reads the items from the
object whatever it says). S3 is reached through the AWS services adapter (boto3, any endpoint). Reading fails with
``States.ItemReaderFailed``.

Processing order (the spec's): items (ItemsPath / Items) → ItemSelector on each item → ItemBatcher → children. A
batch takes items in order while it has fewer than MaxItemsPerBatch and its input stays within
MaxInputBytesPerBatch (the child's input as compact UTF-8 JSON, at most 256 KiB, the size of an execution's input).
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..errors import PathNotFound, StateError
from ..jsontext import dumps, loads
from ..model import ABSENT, ItemBatcher, ItemReader, ResultWriter, State
from ..validate import JSONATA
from .frame import Frame, StateCtx
from .options import MAX_PAYLOAD

if TYPE_CHECKING:
    from .loop import Execution


def batch_items(ex: Execution, st: State, batcher: ItemBatcher, values: list[Any], eff: Any, frame: Frame,
                sctx: StateCtx) -> list[Any]:
    """The children's inputs: ``values`` (the items after ItemSelector) in batches."""
    max_items = _limit(ex, st, "MaxItemsPerBatch", batcher.max_items, batcher.max_items_path, eff, frame, sctx)
    max_bytes = _limit(ex, st, "MaxInputBytesPerBatch", batcher.max_bytes, batcher.max_bytes_path, eff, frame, sctx)
    if max_bytes is not None and max_bytes > MAX_PAYLOAD:
        raise StateError("States.Runtime", f"MaxInputBytesPerBatch must be at most {MAX_PAYLOAD} bytes (256 KiB), "
                                           f"not {max_bytes}")
    batch_input = ABSENT
    if batcher.batch_input is not ABSENT:
        if st.query_language == JSONATA:
            batch_input = ex.jeval(batcher.batch_input, ex.states_binding(eff, frame, sctx), frame, sctx)
        else:
            batch_input = ex.eval_template(batcher.batch_input, eff, frame, sctx, st)
    # the size of a batch's input, as it grows: {"BatchInput":...,"Items":[a,b]} is the frame plus items and commas
    frame_bytes = len(b'{"Items":[]}') + (0 if batch_input is ABSENT else len(b',"BatchInput":') +
                                           len(dumps(batch_input).encode()))
    batches: list[Any] = []
    items: list[Any] = []
    size = frame_bytes
    for index, value in enumerate(values):
        item_bytes = len(dumps(value).encode())
        grown = size + item_bytes + (1 if items else 0)
        if items and ((max_items is not None and len(items) >= max_items) or (max_bytes is not None and grown > max_bytes)):
            batches.append(_batch(batch_input, items))
            items, grown = [], frame_bytes + item_bytes
        if max_bytes is not None and grown > max_bytes:
            raise StateError("States.Runtime", f"The item at index {index} ({item_bytes} bytes) does not fit in a batch "
                                               f"of at most MaxInputBytesPerBatch ({max_bytes}) bytes")
        items.append(value)
        size = grown
    if items:
        batches.append(_batch(batch_input, items))
    return batches


def _batch(batch_input: Any, items: list[Any]) -> dict[str, Any]:
    return {"Items": items} if batch_input is ABSENT else {"BatchInput": batch_input, "Items": items}


def _limit(ex: Execution, st: State, name: str, value: Any, path: Any, eff: Any, frame: Frame,
           sctx: StateCtx) -> int | None:
    """A positive whole number from a number, a ``…Path`` or an expression; None when not given."""
    where = name
    if st.query_language == JSONATA and value is not ABSENT:
        value = ex.jeval_typed(value, "integer", ex.states_binding(eff, frame, sctx), frame, sctx)
    elif path is not ABSENT and path is not None:
        where = f"{name}Path"
        try:
            value = ex.resolve(path, eff, frame, sctx)
        except PathNotFound:
            raise StateError("States.Runtime", f"The {where} field references a value that does not exist: "
                                               f"{path.text}") from None
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = int(value.strip())
    if value is ABSENT:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not float(value).is_integer() or value < 1:
        shown = value if isinstance(value, str) else dumps(value)
        raise StateError("States.Runtime", f"The {where} field refers to value \"{shown}\" which is not a positive "
                                           "integer" if where != name else f"{name} must be a positive integer, not {shown}")
    return int(value)


# -- ItemReader ------------------------------------------------------------------------------------------------------
MAX_READER_ITEMS = 100_000_000  # ReaderConfig.MaxItems' largest value
MAX_JSON_OBJECT = 64 << 20  # asl's own bound on a JSON object read whole (about 1 GiB of memory parsed)
MAX_LINE = 8 << 20  # asl's own bound on a JSON Lines line
_DELIMITERS = {"COMMA": ",", "PIPE": "|", "SEMICOLON": ";", "TAB": "\t", "SPACE": " "}


def reader_failed(cause: str) -> StateError:
    return StateError("States.ItemReaderFailed", cause)


@dataclass(frozen=True)
class ReaderCall:
    """An ItemReader about to read: its definition and the MaxItems it was given (checked to be a whole number)."""

    reader: ItemReader
    max_items: int | None


def read_items(ex: Execution, st: State, call: ReaderCall, eff: Any, frame: Frame, sctx: StateCtx) -> list[Any]:
    """The items an ItemReader reads, at most ReaderConfig.MaxItems of them."""
    reader = call.reader
    if st.query_language == JSONATA:
        params = ABSENT if reader.parameters is ABSENT else \
            ex.jeval(reader.parameters, ex.states_binding(eff, frame, sctx), frame, sctx)
    else:
        params = ABSENT if reader.parameters is ABSENT else ex.eval_template(reader.parameters, eff, frame, sctx, st)
    if not isinstance(params, dict):
        raise reader_failed("The ItemReader's Parameters must give an object with Bucket and Key (or Prefix)")
    if call.max_items is not None and call.max_items < 0:
        raise reader_failed("field MaxItems must be positive")
    limit = None if not call.max_items else min(call.max_items, MAX_READER_ITEMS)  # 0: all of them
    mocks = ex.opts.mocks
    if mocks is not None and mocks.mocks(st.name):  # a test gives the items the reader would read
        return _mocked_items(mocks, st, limit)
    action = reader.resource.rpartition(":")[2]
    client = _s3_client(ex)
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        if action == "getObject":
            items = _object_items(client, params, reader.config, limit)
        elif action == "listObjectsV2":
            items = _listed_objects(client, params, limit)
        else:
            raise reader_failed(f"The ItemReader resource '{reader.resource}' is not supported: use "
                                "arn:aws:states:::s3:getObject or arn:aws:states:::s3:listObjectsV2")
    except (ClientError, BotoCoreError, ValueError) as exc:  # ValueError: botocore's own, and text that is not UTF-8
        raise reader_failed(s3_cause(exc)) from None
    except (csv.Error, OSError, EOFError, zlib.error) as exc:  # a CSV field too long, a gzip file that is not one
        raise reader_failed(f"The object cannot be read as {reader.config.get('InputType')}: "
                            f"{type(exc).__name__}: {exc}") from None
    return items


def s3_cause(exc: Exception) -> str:
    """The cause of a failed S3 call: S3's message with its status and request id, as the SDK words it."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return f"{type(exc).__name__}: {exc}"
    err = response.get("Error", {})
    meta = response.get("ResponseMetadata", {})
    return (f"{err.get('Message', '')} (Service: S3, Status Code: {meta.get('HTTPStatusCode', 400)}, "
            f"Request ID: {meta.get('RequestId', '')})")


def _mocked_items(mocks: Any, st: State, limit: int | None) -> list[Any]:
    """The items of a mocked ItemReader: the mocked response's Return (an array), or its Throw as the reader's error."""
    result = mocks.take(st.name)
    if result is None:
        raise reader_failed(f"The mocked response of the state '{st.name}' has no entry for this invocation")
    if result.throws:
        raise StateError(result.error, result.cause)
    if not isinstance(result.value, list):
        raise reader_failed("Attempting to map over non-iterable node.")
    return result.value if limit is None else result.value[:limit]


def max_items(ex: Execution, st: State, reader: ItemReader, eff: Any, frame: Frame, sctx: StateCtx) -> int | None:
    """ReaderConfig.MaxItems or MaxItemsPath, None when absent. A value that is not a whole number is States.Runtime
    as the state starts; a negative one fails the Map Run when it reads (AWS's order)."""
    value: Any = reader.max_items
    if st.query_language == JSONATA and value is not ABSENT:
        value = ex.jeval_typed(value, "integer", ex.states_binding(eff, frame, sctx), frame, sctx)
    elif reader.max_items_path is not ABSENT and reader.max_items_path is not None:
        path = reader.max_items_path.text
        try:
            value = ex.resolve(reader.max_items_path, eff, frame, sctx)
        except PathNotFound:
            raise StateError("States.Runtime", f"The MaxItemsPath field references a value that does not exist: "
                                               f"{path}") from None
        if isinstance(value, bool) or not isinstance(value, int | float) or not float(value).is_integer():
            shown = value if isinstance(value, str) else dumps(value)
            raise StateError("States.Runtime", f"The MaxItemsPath field refers to value \"{shown}\" which is not a "
                                               f"valid integer: {path}")
    if value is ABSENT or value is None:
        return None
    return int(value)


def _s3_client(ex: Execution, what: str = "An ItemReader reads from", fail: Callable[[str], StateError] | None = None) -> Any:
    adapters = ex.opts.adapters
    adapter = None if adapters is None else adapters.resolve("arn:aws:states:::aws-sdk:s3:getObject")
    client = getattr(adapter, "client", None)
    if client is None:
        raise (fail or reader_failed)(f"{what} Amazon S3 through the AWS services adapter, and none is configured: "
                                      "give an endpoint (asl run --aws-endpoint URL, or [aws] in asl.toml)")
    return client("s3", ex.opts.region)


def _take(items: Iterator[Any], max_items: int | None) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if max_items is not None and len(out) >= max_items:
            break
        out.append(item)
    return out


def _object_items(client: Any, params: dict[str, Any], config: Any, max_items: int | None) -> list[Any]:
    input_type = config.get("InputType")
    if input_type == "MANIFEST":
        return _manifest_items(client, params, max_items)
    response = client.get_object(**params)
    body = response["Body"]
    if input_type == "JSON":
        size = int(response.get("ContentLength") or 0)
        if size > MAX_JSON_OBJECT:  # parsed whole, it would take about 16 times its size in memory
            raise reader_failed(f"The JSON object is {size} bytes; asl reads JSON objects of at most {MAX_JSON_OBJECT} "
                                "bytes (use InputType JSONL or CSV for more: they are read a line at a time)")
        try:
            data = loads(body.read().decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise reader_failed(f"The object is not valid JSON: {exc}") from None
        if not isinstance(data, list):
            raise reader_failed("Attempting to map over non-iterable node.")
        return data if max_items is None else data[:max_items]
    if input_type == "JSONL":
        return _take(_jsonl(body), max_items)
    if input_type == "CSV":
        text = io.TextIOWrapper(body, encoding="utf-8", newline="")
        return _take(_csv_rows(text, config), max_items)
    raise reader_failed(f"InputType {input_type} is not supported by asl" if input_type == "PARQUET" else
                        "ReaderConfig.InputType must be one of CSV, JSON, JSONL, MANIFEST for s3:getObject")


def _jsonl(body: Any) -> Iterator[Any]:
    """The values of a JSON Lines object, a line at a time (in chunks of 1 MiB, each line at most MAX_LINE bytes)."""
    pending = bytearray()
    number = 0

    def value(line: bytes) -> Any:
        try:
            return loads(line.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise reader_failed(f"Line {number} of the object is not valid JSON: {exc}") from None

    while chunk := body.read(1 << 20):
        pending += chunk
        start = 0
        while (end := pending.find(b"\n", start)) >= 0:
            number += 1
            if end - start > MAX_LINE:
                raise reader_failed(f"Line {number} of the object is longer than {MAX_LINE} bytes")
            line = bytes(pending[start:end])
            start = end + 1
            if line.strip():
                yield value(line)
        del pending[:start]
        if len(pending) > MAX_LINE:
            raise reader_failed(f"Line {number + 1} of the object is longer than {MAX_LINE} bytes")
    if pending.strip():
        number += 1
        yield value(bytes(pending))


def _csv_rows(text: Any, config: Any) -> Iterator[dict[str, str]]:
    """A CSV file's rows as objects of strings, keyed by the header row (FIRST_ROW) or CSVHeaders (GIVEN), as AWS
    reads them: no type is inferred, a short row is padded with "" (a line of spaces is a row), extra fields are
    dropped, and the keys come in the order Java's HashMap gives them (AWS's output shows that order)."""
    rows = csv.reader(text, delimiter=_DELIMITERS.get(config.get("CSVDelimiter", "COMMA"), ","))
    if config.get("CSVHeaderLocation", "FIRST_ROW") == "GIVEN":
        headers = list(config.get("CSVHeaders") or [])
    else:
        headers = next(rows, [])
    if len(set(headers)) != len(headers):
        raise reader_failed("CSV headers cannot contain duplicates.")
    order = java_hashmap_order(headers)
    for row in rows:
        if row:
            values = dict(zip(headers, row + [""] * (len(headers) - len(row)), strict=False))
            yield {key: values[key] for key in order}


def java_hashmap_order(keys: list[str]) -> list[str]:
    """The order in which a java.util.HashMap holding these string keys (put in this order) iterates them: by bucket,
    ``(h ^ h >>> 16) & (capacity - 1)`` of String.hashCode, the capacity doubling from 16 while the map is over
    three quarters full, and by insertion within a bucket."""
    capacity = 16
    while len(keys) > capacity * 3 // 4:
        capacity *= 2

    def bucket(key: str) -> int:
        h = 0
        for unit in key.encode("utf-16-be").hex(" ", 2).split():  # UTF-16 code units, as Java's chars
            h = (31 * h + int(unit, 16)) & 0xFFFFFFFF
        return (h ^ (h >> 16)) & (capacity - 1)

    return [key for _, _, key in sorted((bucket(k), i, k) for i, k in enumerate(keys))]


def _manifest_items(client: Any, params: dict[str, Any], max_items: int | None) -> list[Any]:
    """An S3 Inventory manifest (manifest.json): the rows of the CSV files it lists, keyed by its fileSchema."""
    try:
        manifest = json.loads(client.get_object(**params)["Body"].read())
        schema = [name.strip() for name in manifest["fileSchema"].split(",")]
        bucket = manifest["destinationBucket"].rpartition(":")[2]
        files = [f["key"] for f in manifest["files"]]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise reader_failed(f"The object is not an S3 Inventory manifest: {type(exc).__name__}: {exc}") from None
    if manifest.get("fileFormat", "CSV") != "CSV":
        raise reader_failed(f"S3 Inventory files of format {manifest.get('fileFormat')} are not supported by asl")

    def rows() -> Iterator[dict[str, str]]:
        for key in files:
            raw = client.get_object(Bucket=bucket, Key=key)["Body"]
            stream = gzip.GzipFile(fileobj=raw) if key.endswith(".gz") else raw
            for row in csv.reader(io.TextIOWrapper(stream, encoding="utf-8", newline="")):
                if row:
                    yield dict(zip(schema, row, strict=False))

    return _take(rows(), max_items)


def _listed_objects(client: Any, params: dict[str, Any], max_items: int | None) -> list[Any]:
    """One item an object (Etag, Key, LastModified in epoch seconds, Size, StorageClass), as S3 lists them."""
    def objects() -> Iterator[dict[str, Any]]:
        for page in client.get_paginator("list_objects_v2").paginate(**params):
            for o in page.get("Contents", []):
                yield {"Etag": o.get("ETag"), "Key": o["Key"], "LastModified": int(o["LastModified"].timestamp()),
                       "Size": o.get("Size"), "StorageClass": o.get("StorageClass", "STANDARD")}

    return _take(objects(), max_items)


# -- ResultWriter ----------------------------------------------------------------------------------------------------
@dataclass
class ChildRun:
    """One child of a Map Run: its input, its name, and when it started and stopped (a child run in the parent's
    process has its frame, whose history says it)."""

    input: Any
    name: str
    frame: Frame | None = None
    start: datetime | None = None
    stop: datetime | None = None


@dataclass
class MapRun:
    """What a ResultWriter reports of a Map Run."""

    arn: str
    label: str
    id: str
    children: list[ChildRun]
    results: list[Any]
    errors: dict[int, StateError]


def writer_failed(cause: str) -> StateError:
    return StateError("States.ResultWriterFailed", cause)


def _iso(when: Any) -> str:
    moment = when if isinstance(when, datetime) else datetime.now(UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _record(ex: Execution, run: MapRun, index: int) -> dict[str, Any]:
    """A child's execution record, as DescribeExecution gives it (the ResultWriter's NONE transformation)."""
    o = ex.opts
    child = run.children[index]
    machine = f"{ex.context_sm['Name']}/{run.label}"
    start, stop = child.start, child.stop
    if child.frame is not None:
        events = child.frame.history.events  # compact tuples: (id, previous id, timestamp, type, ...)
        start = events[0][2] if events else None
        stop = events[-1][2] if events else None
    err = run.errors.get(index)
    record: dict[str, Any] = {
        "ExecutionArn": f"arn:{o.partition}:states:{o.region}:{o.account}:execution:{machine}:{child.name}",
        "Input": dumps(child.input), "InputDetails": {"Included": True}, "Name": child.name}
    if err is None:
        record.update({"Output": dumps(run.results[index]), "OutputDetails": {"Included": True}})
    else:
        record.update({"Error": err.error, "Cause": err.cause})
    status = "SUCCEEDED" if err is None else "FAILED"
    record.update({"RedriveCount": 0, "RedriveStatus": "NOT_REDRIVABLE",
                   "RedriveStatusReason": f"Execution is {status} and cannot be redriven", "StartDate": _iso(start),
                   "StateMachineArn": f"arn:{o.partition}:states:{o.region}:{o.account}:stateMachine:{machine}",
                   "Status": status, "StopDate": _iso(stop)})
    return record


def _transformed(ex: Execution, run: MapRun, transformation: str) -> tuple[list[Any], list[Any]]:
    """The succeeded children's results in the transformation's form, and the failed children's records."""
    succeeded: list[Any] = []
    for index, result in enumerate(run.results):
        if index in run.errors:
            continue
        if transformation == "NONE":
            succeeded.append(_record(ex, run, index))
        elif transformation == "FLATTEN" and isinstance(result, list):
            succeeded.extend(result)
        else:
            succeeded.append(result)
    return succeeded, [_record(ex, run, index) for index in sorted(run.errors)]


def write_results(ex: Execution, st: State, writer: ResultWriter, eff: Any, frame: Frame, sctx: StateCtx,
                  run: MapRun, write: bool = True) -> Any:
    """The Map's result with a ResultWriter: the children's results shaped by WriterConfig, or (with S3 parameters)
    where they were written (``write`` False: a rebuilt Map Run that wrote them already; nothing goes to S3)."""
    config = writer.config
    exporting = writer.resource is not None
    transformation = config.get("Transformation", "NONE" if exporting else "COMPACT")
    output_type = config.get("OutputType", "JSON")
    succeeded, failed = _transformed(ex, run, transformation)
    if not exporting:  # the state's result: the children in order, a failed one as its record
        if transformation == "NONE":
            return [_record(ex, run, i) for i in range(len(run.results))]
        shaped: list[Any] = []
        for index, result in enumerate(run.results):
            if index in run.errors:
                shaped.append(_record(ex, run, index))
            elif transformation == "FLATTEN" and isinstance(result, list):
                shaped.extend(result)
            else:
                shaped.append(result)
        return shaped
    if not str(writer.resource).endswith(":s3:putObject"):
        raise writer_failed(f"The ResultWriter resource '{writer.resource}' is not supported: use "
                            "arn:aws:states:::s3:putObject")
    if st.query_language == JSONATA:
        params = ABSENT if writer.parameters is ABSENT else \
            ex.jeval(writer.parameters, ex.states_binding(eff, frame, sctx), frame, sctx)
    else:
        params = ABSENT if writer.parameters is ABSENT else ex.eval_template(writer.parameters, eff, frame, sctx, st)
    if not isinstance(params, dict) or not isinstance(params.get("Bucket"), str):
        raise writer_failed("The ResultWriter's Parameters must give an object with Bucket (and Prefix)")
    bucket, prefix = params["Bucket"], str(params.get("Prefix") or "")
    folder = f"{prefix.rstrip('/')}/{run.id}" if prefix else run.id
    manifest_key = f"{folder}/manifest.json"
    mocks = ex.opts.mocks
    if not write or (mocks is not None and mocks.mocks(st.name)):  # written already, or mocked: nothing goes to S3
        return {"MapRunArn": run.arn, "ResultWriterDetails": {"Bucket": bucket, "Key": manifest_key}}
    client = _s3_client(ex, "A ResultWriter writes to", writer_failed)
    from botocore.exceptions import BotoCoreError, ClientError

    files: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
    try:
        for status, records in (("SUCCEEDED", succeeded), ("FAILED", failed)):
            if not records:
                continue
            if output_type == "JSONL":
                key, body = f"{folder}/{status}_0.jsonl", "".join(dumps(r) + "\n" for r in records).encode()
            else:
                key, body = f"{folder}/{status}_0.json", dumps(records).encode()
            client.put_object(Bucket=bucket, Key=key, Body=body)
            files[status].append({"Key": key, "Size": len(body)})
        manifest = {"DestinationBucket": bucket, "MapRunArn": run.arn, "ResultFiles": files}
        client.put_object(Bucket=bucket, Key=manifest_key, Body=dumps(manifest).encode())
    except (ClientError, BotoCoreError, ValueError) as exc:
        raise writer_failed(s3_cause(exc)) from None
    return {"MapRunArn": run.arn, "ResultWriterDetails": {"Bucket": bucket, "Key": manifest_key}}
