"""The Lambda function of examples/fanout.jsonata.asl.json: 'resizes' an image (here: computes the name and size
of its thumbnail) and rejects what is not an image, as a real resizer would."""

from typing import Any


class UnsupportedFormat(Exception):
    pass


def thumbnail(event: dict[str, Any], context: Any) -> dict[str, Any]:
    name = event["image"]
    if not name.lower().endswith((".png", ".jpg", ".jpeg")):
        raise UnsupportedFormat(f"{name} is not an image")
    stem, _, ext = name.rpartition(".")
    size = int(event.get("size", 128))
    return {"image": name, "thumbnail": f"{stem}.{size}px.{ext}", "bytes": size * size // 8 + len(name)}
