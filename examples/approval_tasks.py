"""The Lambda function of examples/approval.asl.json: in production it would email the approver a link; here it
prints the commands that answer it (the worker shows what a function prints, prefixed with its name). Its
return value only acknowledges the request: the Task's result is what the approver sends back with the token."""

from typing import Any


def request_approval(event: dict[str, Any], context: Any) -> dict[str, Any]:
    token = event["taskToken"]
    print(f"approval needed: order {event['order']} for {event['amount']}")
    print(f"  approve: asl task success {token} --output '{{\"approved\": true, \"by\": \"ada\"}}'")
    print(f"  reject:  asl task failure {token} --error Rejected --cause 'too expensive'")
    return {"requested": True}
