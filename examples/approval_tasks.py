"""The approval request of examples/approval.asl.json: in production a Lambda function that emails a link; here
it prints the command that answers it. Its return value is only the request's acknowledgement (the Task's
result is what the approver sends back with the token)."""

from typing import Any


def request_approval(params: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    payload = params["Payload"]
    token = payload["taskToken"]
    print(f"approval needed: order {payload['order']} for {payload['amount']}\n"
          f"  approve: asl task success {token} --output '{{\"approved\": true, \"by\": \"ada\"}}'\n"
          f"  reject:  asl task failure {token} --error Rejected --cause 'too expensive'", flush=True)
    return {"StatusCode": 202}
