"""SAM and CloudFormation templates: `asl run --template` takes a template's state machine (Definition,
DefinitionUri, DefinitionString, DefinitionSubstitutions with !GetAtt, !Ref and !Sub) and runs its Lambda
functions (Python and Node.js, CodeUri, Handler, Runtime, Globals, Environment) locally."""

from __future__ import annotations

import json
import shutil
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
