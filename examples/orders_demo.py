"""Run examples/orders.asl.json end to end with no AWS account: DynamoDB and SQS come from a moto server started
here, the Lambda function runs locally. Needs moto's server (``pip install -e '.[examples]'``).

    python examples/orders_demo.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from moto_endpoint import moto_endpoint  # noqa: E402


def main() -> int:
    import boto3

    with moto_endpoint() as endpoint:
        ddb = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=endpoint)
        ddb.create_table(TableName="orders", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=endpoint)
        queue = sqs.create_queue(QueueName="warehouse")["QueueUrl"]
        order = {"orderId": "A-1001", "customer": "ada", "queueUrl": queue,
                 "lines": [{"sku": "apple", "qty": 12}, {"sku": "coffee", "qty": 2}]}
        asl = [sys.executable, "-c", "from asl.cli import main; main()", "run", str(HERE / "orders.asl.json"),
               "--aws-endpoint", endpoint, "--lambda", f"validate-order={HERE / 'orders_lambdas.py'}:validate_order"]
        for attempt in ("first", "again (the same order id)"):
            print(f"$ asl run orders.asl.json  # {attempt}", flush=True)
            subprocess.run([*asl, "--input", json.dumps(order)], check=False)
        item = ddb.get_item(TableName="orders", Key={"id": {"S": "A-1001"}})["Item"]
        print("DynamoDB item:", json.dumps(item))
        for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
            print("SQS message:", m["Body"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
