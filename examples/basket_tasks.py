"""The price lookup behind examples/basket.jsonata.asl.json, as a task callable: ``fn(input, context)``."""

from __future__ import annotations

from typing import Any

PRICES = {"apple": 0.4, "bread": 2.25, "coffee": 7.9, "olive-oil": 11.5}


def price(event: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """Return the unit price of ``event["sku"]``; an unknown SKU fails the task, as a Lambda error would."""
    sku = event["sku"]
    if sku not in PRICES:
        raise KeyError(f"unknown SKU {sku!r}")
    return {"sku": sku, "unit": PRICES[sku], "currency": event["currency"]}
