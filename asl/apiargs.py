"""Checks of the Step Functions API's arguments (names, ARNs, JSON texts) and the shapes of its answers (pages,
absent members), shared by the service's operations."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from typing import Any, TypeVar

from . import jsontext
from .errors import ServiceError
from .parse import jackson_message
from .runtime.options import MAX_PAYLOAD

T = TypeVar("T")
_BAD_NAME = re.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f\ufffe\uffff]")
MAX_TAGS = 50


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not 1 <= len(name) <= 80 or _BAD_NAME.search(name):
        raise ServiceError("InvalidName", f"Invalid Name: '{name}'")
    return name


def check_arn(arn: Any) -> str:
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        raise ServiceError("InvalidArn", f"Invalid Arn: 'Invalid ARN prefix: {arn}'")
    return arn


def unqualified_arn(arn: str) -> bool:
    """A state machine ARN without a version or alias after its name."""
    return len(arn.split(":")) == 7


def version_arn(arn: str) -> bool:
    """A state machine version ARN (``…:stateMachine:<name>:<number>``)."""
    parts = arn.split(":")
    return len(parts) == 8 and parts[7].isdigit()


def arn_kind(arn: str) -> str:
    parts = arn.split(":")
    return parts[5] if len(parts) > 6 else ""


def check_kind(arn: Any, *kinds: str) -> str:
    """An ARN of one of these resource types (``stateMachine``, ``execution``, ...), or InvalidArn as AWS words it."""
    arn = check_arn(arn)
    kind = arn_kind(arn)
    if kind not in kinds:
        raise ServiceError("InvalidArn", f"Invalid Arn: 'Resource type not valid in this context: {kind or arn}'")
    return arn


def check_json(text: Any, code: str, what: str) -> str:
    if not isinstance(text, str):
        raise ServiceError(code, f"Invalid {what}: expected a JSON text")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_PAYLOAD:
        raise ServiceError(code, f"Invalid {what}: 'larger than {MAX_PAYLOAD} bytes'")
    try:
        jsontext.loads(text, "The JSON text")
    except jsontext.JsonLimitError as exc:
        raise ServiceError(code, f"Invalid {what}: '{exc.message}'") from None
    except ValueError:
        raise ServiceError(code, f"Invalid {what}: '{jackson_message(text)}'") from None
    return text


def revision_id(arn: str, revision: int) -> str:
    """The revisionId of a state machine's revision: stable, and different for each revision."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{arn}#{revision}"))


def page_of(items: list[T], kind: str, max_results: int | None, next_token: str | None, default: int = 100
          ) -> tuple[list[T], str | None]:
    """One page of ``items`` and the token of the next. Tokens are opaque to clients and tied to ``kind`` (the
    listing they came from); a token that is not one of ours is InvalidToken."""
    start = 0
    if next_token is not None:
        try:
            k, _, n = base64.urlsafe_b64decode(next_token.encode()).decode().rpartition(":")
            if k != kind or not n.isdigit():
                raise ValueError(next_token)
            start = int(n)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise ServiceError("InvalidToken", "Invalid Token: 'Invalid token'") from None
    size = max_results if max_results else default
    page = items[start:start + size]
    more = start + size < len(items)
    token = base64.urlsafe_b64encode(f"{kind}:{start + size}".encode()).decode() if more else None
    return page, token


def paged(key: str, items: list[Any], kind: str, max_results: int | None, next_token: str | None,
           default: int = 100) -> dict[str, Any]:
    page, token = page_of(items, kind, max_results, next_token, default)
    out: dict[str, Any] = {key: page}
    if token is not None:
        out["nextToken"] = token
    return out


def put(out: dict[str, Any], **members: Any) -> None:
    """Add the members that have a value (AWS leaves absent members out of its answers)."""
    out.update((k, v) for k, v in members.items() if v is not None)


def tag_dict(tags: Any) -> dict[str, str]:
    return {t["key"]: t.get("value", "") for t in tags or ()}
