"""SAM and CloudFormation templates: `asl run --template` takes a template's state machine (Definition,
DefinitionUri, DefinitionString, DefinitionSubstitutions with !GetAtt, !Ref and !Sub) and runs its Lambda
functions (Python and Node.js, CodeUri, Handler, Runtime, Globals, Environment) locally."""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from asl.cli import main
from asl.errors import ConfigError
from asl.sam import load_template

SAM = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Timeout: 5
    Environment:
      Variables:
        STAGE: local
Resources:
  OrderFlow:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: statemachine/flow.asl.json
      DefinitionSubstitutions:
        CheckArn: !GetAtt CheckFunction.Arn
        PriceFunction: !Ref PriceFunction
        Greeting: !Sub "orders in ${AWS::Region} for ${AWS::AccountId}"
  CheckFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/check/
      Handler: app.lambda_handler
      Runtime: python3.11
      Environment:
        Variables:
          TABLE: !Ref OrdersTable
  PriceFunction:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: price-fn
      CodeUri: functions/price/
      Handler: index.handler
      Runtime: nodejs20.x
  OrdersTable:
    Type: AWS::Serverless::SimpleTable
"""
FLOW = {"StartAt": "Check", "States": {
    "Check": {"Type": "Task", "Resource": "${CheckArn}", "Next": "Price"},
    "Price": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "OutputPath": "$.Payload", "Next": "Say",
              "Parameters": {"FunctionName": "${PriceFunction}", "Payload.$": "$"}},
    "Say": {"Type": "Pass", "Parameters": {"greeting": "${Greeting}", "order.$": "$"}, "End": True}}}


def project(tmp_path: Path, template: str = SAM) -> Path:
    (tmp_path / "statemachine").mkdir()
    (tmp_path / "statemachine" / "flow.asl.json").write_text(json.dumps(FLOW))
    (tmp_path / "functions" / "check").mkdir(parents=True)
    (tmp_path / "functions" / "check" / "app.py").write_text(textwrap.dedent("""\
        import os

        def lambda_handler(event, context):
            return {**event, "checked": context.function_name, "table": os.environ["TABLE"], "stage": os.environ["STAGE"]}
        """))
    (tmp_path / "functions" / "price").mkdir(parents=True)
    (tmp_path / "functions" / "price" / "index.js").write_text(
        "exports.handler = async (event) => ({ ...event, price: event.qty * 3 });\n")
    (tmp_path / "template.yaml").write_text(template)
    return tmp_path / "template.yaml"


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_a_sam_template_runs_with_one_command(tmp_path: Path) -> None:
    template = project(tmp_path)
    r = CliRunner().invoke(main, ["run", "--template", str(template), "--input", '{"qty": 4}'])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == {"greeting": "orders in us-east-1 for 123456789012", "order": {
        "qty": 4, "checked": "CheckFunction", "table": "OrdersTable", "stage": "local", "price": 12}}


def test_what_a_template_gives_and_what_it_cannot(tmp_path: Path) -> None:
    t = load_template(project(tmp_path))
    name, text, kind = t.state_machine()
    assert (name, kind) == ("OrderFlow", "STANDARD")
    definition = json.loads(text)
    assert definition["States"]["Check"]["Resource"] == "arn:aws:lambda:us-east-1:123456789012:function:CheckFunction"
    assert definition["States"]["Price"]["Parameters"]["FunctionName"] == "price-fn"
    functions = {f.name: f for f in t.functions()}
    assert functions["CheckFunction"].runtime == "python" and functions["CheckFunction"].timeout == 5
    assert functions["CheckFunction"].environment == {"STAGE": "local", "TABLE": "OrdersTable"}
    assert functions["price-fn"].runtime == "nodejs" and functions["price-fn"].handler == "index.js:handler"
    (tmp_path / "functions" / "check" / "app.py").unlink()
    with pytest.raises(ConfigError) as info:
        t.functions()
    assert "CheckFunction" in str(info.value) and "app" in str(info.value)
    r = CliRunner().invoke(main, ["run", "--template", str(tmp_path / "template.yaml")])
    assert r.exit_code == 2 and "CheckFunction" in r.output, r.output
    for bad, says in ((SAM.replace("python3.11", "java21"), "asl runs python3.x and nodejs functions"),
                      (SAM.replace("DefinitionUri: statemachine/flow.asl.json",
                                   "DefinitionUri: {Bucket: b, Key: k}"), "in S3 cannot be read locally"),
                      (SAM.replace("Resources:", "Resources:\n  Other:\n    Type: AWS::Serverless::StateMachine\n"
                                                 "    Properties:\n      Definition: {StartAt: P, States: {P: {Type: "
                                                 "Pass, End: true}}}"), "name one with --state-machine")):
        (tmp_path / "template.yaml").write_text(bad)
        with pytest.raises(ConfigError) as info:
            t2 = load_template(tmp_path / "template.yaml")
            t2.state_machine()
            t2.functions()
        assert says in str(info.value)


def test_a_cloudformation_state_machine_with_a_definition_string(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "handler.py").write_text("def go(event, context):\n    return {'went': event}\n")
    template = {
        "Resources": {
            "Go": {"Type": "AWS::Lambda::Function",
                   "Properties": {"Code": "src", "Handler": "handler.go", "Runtime": "python3.12", "FunctionName": "go"}},
            "Machine": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
                "StateMachineName": "machine",
                "DefinitionString": {"Fn::Sub": json.dumps(
                    {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "${Go.Arn}", "End": True}}})}}}}}
    (tmp_path / "template.json").write_text(json.dumps(template))
    r = CliRunner().invoke(main, ["run", "--template", str(tmp_path / "template.json"), "--input", "[1]"])
    assert r.exit_code == 0 and json.loads(r.output) == {"went": [1]}, r.output
    assert load_template(tmp_path / "template.json").state_machine("Machine")[0] == "machine"


def test_template_details_found_in_a_trial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    template = project(tmp_path)
    bad = SAM.replace("!GetAtt CheckFunction.Arn", "!GetAtt CheckFunction.Arnn")
    template.write_text(bad)
    with pytest.raises(ConfigError) as info:
        load_template(template).state_machine()
    assert "CheckFunction.Arnn" in str(info.value) and "has no attribute 'Arnn'" in str(info.value)
    # Lambda's Python runtime reads Handler pkg/mod.handler as pkg.mod.handler
    (tmp_path / "functions" / "check" / "pkg").mkdir()
    (tmp_path / "functions" / "check" / "pkg" / "__init__.py").write_text("")
    (tmp_path / "functions" / "check" / "pkg" / "mod.py").write_text("def handler(event, context):\n    return event\n")
    template.write_text(SAM.replace("Handler: app.lambda_handler", "Handler: pkg/mod.handler"))
    fn = next(f for f in load_template(template).functions() if f.name == "CheckFunction")
    assert fn.handler == "pkg.mod.handler"
    # ${AWS::StackName} is the template's folder's name, however the template's path is given
    monkeypatch.chdir(tmp_path)
    assert load_template("template.yaml").resolve({"Fn::Sub": "${AWS::StackName}"}) == tmp_path.name


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_a_suite_takes_its_state_machine_from_a_template(tmp_path: Path) -> None:
    template = project(tmp_path)
    suite = tmp_path / "flow.test.json"
    suite.write_text(json.dumps({"stateMachine": "template.yaml#OrderFlow", "tests": [
        {"name": "priced", "input": {"qty": 2}, "mocks": {"Check": {"0": {"Return": {"qty": 2, "checked": "mock"}}}},
         "expect": {"output": {"greeting": "orders in us-east-1 for 123456789012",
                               "order": {"qty": 2, "checked": "mock", "price": 6}}}}]}))
    r = CliRunner().invoke(main, ["test", str(suite), "--template", str(template)])
    assert r.exit_code == 0, r.output


def test_ref_getatt_and_names_as_cloudformation_documents_them(tmp_path: Path) -> None:
    """!Ref of a state machine is its ARN, of a queue its URL, of a topic its ARN; a name property may itself be an
    intrinsic function (FunctionName: !Sub ...), and the function is named, and reached, by what it resolves to."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text(textwrap.dedent("""\
        import os

        def handler(event, context):
            return {"me": context.function_name, "machine": os.environ["MACHINE"], "queue": os.environ["QUEUE"],
                    "topic": os.environ["TOPIC"], "queue_name": os.environ["QUEUE_NAME"],
                    "topic_name": os.environ["TOPIC_NAME"], "table": os.environ["TABLE_ARN"]}
        """))
    (tmp_path / "template.yaml").write_text(textwrap.dedent("""\
        Transform: AWS::Serverless-2016-10-31
        Parameters:
          Prefix: {Type: String, Default: shop}
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              FunctionName: !Sub "${Prefix}-${AWS::Region}-fn"
              CodeUri: src/
              Handler: app.handler
              Runtime: python3.11
              Environment:
                Variables:
                  MACHINE: !Ref Machine
                  QUEUE: !Ref Queue
                  TOPIC: !Ref Topic
                  QUEUE_NAME: !GetAtt Queue.QueueName
                  TOPIC_NAME: !GetAtt [Topic, TopicName]
                  TABLE_ARN: !GetAtt Table.Arn
          Machine:
            Type: AWS::Serverless::StateMachine
            Properties:
              Name: !Join ["-", [!Ref Prefix, flow]]
              Definition:
                StartAt: Call
                States:
                  Call: {Type: Task, Resource: !GetAtt Fn.Arn, End: true}
          Queue:
            Type: AWS::SQS::Queue
            Properties: {QueueName: !Sub "${Prefix}-jobs"}
          Topic:
            Type: AWS::SNS::Topic
          Table:
            Type: AWS::DynamoDB::Table
            Properties: {TableName: orders}
        """))
    r = CliRunner().invoke(main, ["run", "--template", str(tmp_path / "template.yaml")])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == {
        "me": "shop-us-east-1-fn", "machine": "arn:aws:states:us-east-1:123456789012:stateMachine:shop-flow",
        "queue": "https://sqs.us-east-1.amazonaws.com/123456789012/shop-jobs",
        "topic": "arn:aws:sns:us-east-1:123456789012:Topic", "queue_name": "shop-jobs", "topic_name": "Topic",
        "table": "arn:aws:dynamodb:us-east-1:123456789012:table/orders"}
    t = load_template(tmp_path / "template.yaml")
    assert t.state_machine()[0] == "shop-flow"
    assert t.resolve({"Fn::Sub": "${Machine} ${Machine.Name} ${Queue.QueueUrl}"}) == (
        "arn:aws:states:us-east-1:123456789012:stateMachine:shop-flow shop-flow "
        "https://sqs.us-east-1.amazonaws.com/123456789012/shop-jobs")
    with pytest.raises(ConfigError) as info:  # a topic has TopicArn, not Arn
        t.resolve({"Fn::GetAtt": ["Topic", "Arn"]})
    assert "has no attribute 'Arn'" in str(info.value)
    t.body["Resources"]["Queue"]["Properties"]["QueueName"] = {"Fn::GetAtt": ["Queue", "QueueName"]}
    with pytest.raises(ConfigError) as info:
        t.resolve({"Ref": "Queue"})
    assert "Resources/Queue/Properties/QueueName: the name refers to itself" in str(info.value)


def test_the_functions_aws_calls_go_to_the_aws_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With --aws-endpoint, a function's own AWS SDK calls go to the same endpoint as the state machine's (a moto
    server here): the function reads the item the state machine's putItem wrote."""
    import boto3
    from moto.server import ThreadedMotoServer

    for k, v in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"), ("AWS_MAX_ATTEMPTS", "1")):
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    (tmp_path / "reader").mkdir()
    (tmp_path / "reader" / "app.py").write_text(textwrap.dedent("""\
        import os
        import boto3

        table = boto3.resource("dynamodb").Table(os.environ["TABLE"])

        def handler(event, context):
            return table.get_item(Key={"id": event["id"]})["Item"]
        """))
    (tmp_path / "template.yaml").write_text(textwrap.dedent("""\
        Transform: AWS::Serverless-2016-10-31
        Resources:
          Orders:
            Type: AWS::Serverless::SimpleTable
            Properties: {TableName: orders}
          Reader:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: reader/
              Handler: app.handler
              Runtime: python3.11
              Environment: {Variables: {TABLE: !Ref Orders}}
          Flow:
            Type: AWS::Serverless::StateMachine
            Properties:
              DefinitionSubstitutions: {Table: !Ref Orders, Reader: !GetAtt Reader.Arn}
              Definition:
                StartAt: Put
                States:
                  Put:
                    Type: Task
                    Resource: arn:aws:states:::dynamodb:putItem
                    Parameters: {TableName: "${Table}", Item: {id: {S.$: $.id}, qty: {N: "3"}}}
                    ResultPath: null
                    Next: Read
                  Read: {Type: Task, Resource: "${Reader}", End: true}
        """))
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1").create_table(
            TableName="orders", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        r = CliRunner().invoke(main, ["run", "--template", str(tmp_path / "template.yaml"), "--aws-endpoint", url,
                                      "--input", '{"id": "o-1"}'])
    finally:
        server.stop()
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == {"id": "o-1", "qty": 3}


def _fake_python(tmp_path: Path, version: tuple[int, int]) -> Path:
    """A ``pythonX.Y`` on a PATH folder: this Python, reporting itself as version X.Y (sys.version_info set by a
    sitecustomize), so a test can tell which Python ran a function."""
    bin_dir, site = tmp_path / "bin", tmp_path / "fakesite"
    bin_dir.mkdir()
    site.mkdir()
    (site / "sitecustomize.py").write_text(f"import sys\nsys.version_info = ({version[0]}, {version[1]}, 0, 'final', 0)\n")
    exe = bin_dir / f"python{version[0]}.{version[1]}"
    exe.write_text(f'#!/bin/sh\nPYTHONPATH="{site}${{PYTHONPATH:+:$PYTHONPATH}}" exec "{sys.executable}" "$@"\n')
    exe.chmod(0o755)
    return bin_dir


def test_a_newer_python_runtime_runs_under_that_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A function whose Runtime names a newer Python than the one running asl runs under that Python when the PATH
    has it (its handler may use syntax this Python cannot read); without it, a handler this Python cannot read is
    an error that says which Python would."""
    from asl import sam

    newer = (sys.version_info[0], sys.version_info[1] + 1)
    runtime = f"python{newer[0]}.{newer[1]}"
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text(textwrap.dedent("""\
        import os
        import sys
        import boto3  # Lambda's Python runtimes include the AWS SDK

        def handler(event, context):
            return {"python": list(sys.version_info[:2]), "env": os.environ["AWS_EXECUTION_ENV"]}
        """))
    template = tmp_path / "template.yaml"
    template.write_text(textwrap.dedent(f"""\
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties: {{CodeUri: src/, Handler: app.handler, Runtime: {runtime}}}
          Machine:
            Type: AWS::StepFunctions::StateMachine
            Properties:
              Definition: {{StartAt: T, States: {{T: {{Type: Task, Resource: !GetAtt Fn.Arn, End: true}}}}}}
        """))
    monkeypatch.setattr(sam, "_PYTHONS", {}, raising=False)
    monkeypatch.setenv("PATH", f"{_fake_python(tmp_path, newer)}{os.pathsep}{os.environ['PATH']}")
    r = CliRunner().invoke(main, ["run", "--template", str(template)])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == {"python": list(newer), "env": f"AWS_Lambda_{runtime}"}
    # the start-up check runs under that Python too: a handler it does not define is found there
    (tmp_path / "src" / "app.py").write_text("def other(event, context):\n    return 1\n")
    with pytest.raises(ConfigError) as info:
        load_template(template).functions()
    assert "defines no 'handler'" in str(info.value)
    # without that Python, a handler this one cannot read says which Python would
    monkeypatch.setattr(sam, "_PYTHONS", {}, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    (tmp_path / "src" / "app.py").write_text("def handler(event, context):\n    return f'{event['x']'\n")
    with pytest.raises(ConfigError) as info:
        load_template(template).functions()
    assert f"its Runtime is {runtime}: put {runtime} on the PATH" in str(info.value)
