"""The Lambda function of examples/orders.asl.json: checks an order and prices it."""

from typing import Any

PRICES = {"apple": 0.5, "coffee": 7.0, "bread": 2.4}


class InvalidOrder(Exception):
    pass


def validate_order(event: dict[str, Any], context: Any) -> dict[str, Any]:
    lines = event.get("lines") or []
    if not lines:
        raise InvalidOrder("the order has no lines")
    unknown = [line["sku"] for line in lines if line["sku"] not in PRICES]
    if unknown:
        raise InvalidOrder(f"unknown products: {', '.join(unknown)}")
    total = round(sum(PRICES[line["sku"]] * line["qty"] for line in lines), 2)
    print(f"order {event['orderId']}: {len(lines)} line(s), total {total}")
    return {"total": total}
