"""What a Distributed Map does with its items before its children run: ItemBatcher groups them into batches, each
batch the input of one child, ``{"BatchInput": ..., "Items": [...]}``.

Processing order (the spec's): items (ItemsPath / Items) → ItemSelector on each item → ItemBatcher → children. A
batch takes items in order while it has fewer than MaxItemsPerBatch and its input stays within
MaxInputBytesPerBatch (the child's input as compact UTF-8 JSON, at most 256 KiB, the size of an execution's input).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from ..errors import PathNotFound, StateError
from ..jsontext import dumps
from ..model import ABSENT, ItemBatcher, State
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
