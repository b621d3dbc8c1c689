"""What a Distributed Map does with its items before its children run: ItemReader reads them from Amazon S3, and
ItemBatcher groups them into batches, each batch the input of one child, ``{"BatchInput": ..., "Items": [...]}``.

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
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..errors import PathNotFound, StateError
from ..jsontext import dumps, loads
from ..model import ABSENT, ItemBatcher, ItemReader, State
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
_DELIMITERS = {"COMMA": ",", "PIPE": "|", "SEMICOLON": ";", "TAB": "\t", "SPACE": " "}


def reader_failed(cause: str) -> StateError:
    return StateError("States.ItemReaderFailed", cause)


def read_items(ex: Execution, st: State, reader: ItemReader, eff: Any, frame: Frame, sctx: StateCtx) -> list[Any]:
    """The items an ItemReader reads, at most ReaderConfig.MaxItems of them."""
    if st.query_language == JSONATA:
        params = ABSENT if reader.parameters is ABSENT else \
            ex.jeval(reader.parameters, ex.states_binding(eff, frame, sctx), frame, sctx)
    else:
        params = ABSENT if reader.parameters is ABSENT else ex.eval_template(reader.parameters, eff, frame, sctx, st)
    if not isinstance(params, dict):
        raise reader_failed("The ItemReader's Parameters must give an object with Bucket and Key (or Prefix)")
    max_items = _max_items(ex, st, reader, eff, frame, sctx)
    action = reader.resource.rpartition(":")[2]
    client = _s3_client(ex)
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        if action == "getObject":
            items = _object_items(client, params, reader.config, max_items)
        elif action == "listObjectsV2":
            items = _listed_objects(client, params, max_items)
        else:
            raise reader_failed(f"The ItemReader resource '{reader.resource}' is not supported: use "
                                "arn:aws:states:::s3:getObject or arn:aws:states:::s3:listObjectsV2")
    except ClientError as exc:
        err = exc.response.get("Error", {})
        meta = exc.response.get("ResponseMetadata", {})
        raise reader_failed(f"{err.get('Message', '')} (Service: S3, Status Code: {meta.get('HTTPStatusCode', 400)}, "
                            f"Request ID: {meta.get('RequestId', '')})") from None
    except (BotoCoreError, ValueError) as exc:  # a bad parameter, a connection refused; ValueError: botocore's own
        raise reader_failed(f"{type(exc).__name__}: {exc}") from None
    return items


def _max_items(ex: Execution, st: State, reader: ItemReader, eff: Any, frame: Frame, sctx: StateCtx) -> int | None:
    """ReaderConfig.MaxItems or MaxItemsPath: None (read all) when absent or 0."""
    value: Any = reader.max_items
    if st.query_language == JSONATA and value is not ABSENT:
        value = ex.jeval_typed(value, "integer", ex.states_binding(eff, frame, sctx), frame, sctx)
    elif reader.max_items_path is not ABSENT and reader.max_items_path is not None:
        try:
            value = ex.resolve(reader.max_items_path, eff, frame, sctx)
        except PathNotFound:
            raise reader_failed(f"The MaxItemsPath field references a value that does not exist: "
                                f"{reader.max_items_path.text}") from None
    if value is ABSENT or value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not float(value).is_integer():
        raise reader_failed(f"field MaxItems must be an integer, not {dumps(value)}")
    if value < 0:
        raise reader_failed("field MaxItems must be positive")
    return None if value == 0 else min(int(value), MAX_READER_ITEMS)


def _s3_client(ex: Execution) -> Any:
    adapters = ex.opts.adapters
    adapter = None if adapters is None else adapters.resolve("arn:aws:states:::aws-sdk:s3:getObject")
    client = getattr(adapter, "client", None)
    if client is None:
        raise reader_failed("An ItemReader reads from Amazon S3 through the AWS services adapter, and none is "
                            "configured: give an endpoint (asl run --aws-endpoint URL, or [aws] in asl.toml)")
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
    body = client.get_object(**params)["Body"]
    if input_type == "JSON":
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
    for number, line in enumerate(body.iter_lines(), 1):
        if line.strip():
            try:
                yield loads(line.decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                raise reader_failed(f"Line {number} of the object is not valid JSON: {exc}") from None


def _csv_rows(text: Any, config: Any) -> Iterator[dict[str, str]]:
    """A CSV file's rows as objects of strings, keyed by the header row (FIRST_ROW) or CSVHeaders (GIVEN)."""
    rows = csv.reader(text, delimiter=_DELIMITERS.get(config.get("CSVDelimiter", "COMMA"), ","))
    if config.get("CSVHeaderLocation", "FIRST_ROW") == "GIVEN":
        headers = list(config.get("CSVHeaders") or [])
    else:
        headers = next(rows, [])
    if len(set(headers)) != len(headers):
        raise reader_failed("CSV headers cannot contain duplicates.")
    for row in rows:
        if row:
            yield dict(zip(headers, row, strict=False))


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
