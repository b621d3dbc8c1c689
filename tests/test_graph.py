"""`asl graph` and asl.graph: every state drawn, nested ones inside their Parallel/Map boxes, transitions as typed
edges with Choice rules in words, valid SVG/DOT/HTML, clear errors for bad input."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from asl.cli import main
from asl.graph import build_graph, render_dot, render_html, render_svg, rule_words

from .conftest import ROOT

SVG = "{http://www.w3.org/2000/svg}"

NESTED: dict[str, Any] = {
    "StartAt": "Check",
    "States": {
        "Check": {"Type": "Choice", "Choices": [
            {"Variable": "$.kind", "StringEquals": "buy", "Next": "Buy"},
            {"And": [{"Variable": "$.n", "NumericGreaterThanEquals": 3}, {"Variable": "$.x", "IsPresent": True}],
             "Next": "Fan"}], "Default": "Later"},
        "Later": {"Type": "Wait", "Seconds": 5, "Next": "Check"},
        "Buy": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Retry": [{"ErrorEquals": ["States.Timeout"], "MaxAttempts": 2}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Broken"}], "Next": "Fan"},
        "Fan": {"Type": "Parallel", "Next": "Done", "Branches": [
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "End": True}}},
            {"StartAt": "Each", "States": {"Each": {"Type": "Map", "End": True, "ItemProcessor": {
                "StartAt": "Item", "States": {"Item": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f",
                                                       "End": True}}}}}}]},
        "Done": {"Type": "Succeed"},
        "Broken": {"Type": "Fail", "Error": "Oops"},
    },
}
ALL_STATES = {"Check", "Later", "Buy", "Fan", "A", "B", "Each", "Item", "Done", "Broken"}


def _tree(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # raises on anything that is not well-formed XML


def _groups(root: ET.Element, cls: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if cls in (g.get("class") or "").split()]


def test_every_state_is_drawn_with_its_type_and_nesting() -> None:
    root = _tree(render_svg(NESTED))
    assert root.get("class") == "asl-graph"
    states = {g.get("data-state"): g for g in root.iter(f"{SVG}g") if g.get("data-state")}
    assert set(states) == ALL_STATES
    assert "type-Choice" in (states["Check"].get("class") or "")
    assert {"cluster", "type-Parallel"} <= set((states["Fan"].get("class") or "").split())
    assert {"cluster", "type-Map"} <= set((states["Each"].get("class") or "").split())
    assert "has-retry" in (states["Buy"].get("class") or "") and "has-catch" in (states["Buy"].get("class") or "")
    # nested states are drawn inside their containers' groups
    assert {g.get("data-state") for g in states["Fan"].iter(f"{SVG}g") if g.get("data-state")} == {"Fan", "A", "B", "Each", "Item"}
    assert len(_groups(states["Fan"], "branch")) == 3  # two branches, and the Map's processor
    assert {g.get("data-terminal") for g in _groups(root, "terminal")} == {"start", "end"}


def test_edges_carry_their_kind_and_the_choice_rule_in_words() -> None:
    root = _tree(render_svg(NESTED))
    edges = {(g.get("data-from"), g.get("data-to")): g for g in _groups(root, "edge")}
    label = "".join(edges[("Check", "Buy")].itertext())
    assert "kind-choice" in (edges[("Check", "Buy")].get("class") or "") and '$.kind == "buy"' in label
    assert "$.n >= 3 and $.x is present" in "".join(edges[("Check", "Fan")].itertext())
    assert "kind-default" in (edges[("Check", "Later")].get("class") or "")
    assert "kind-catch" in (edges[("Buy", "Broken")].get("class") or "")
    assert "kind-next" in (edges[("Later", "Check")].get("class") or "")  # a loop back is drawn too
    assert ("A", "B") in edges and ("", "Check") in edges and ("Done", "") in edges and ("Broken", "") in edges


def test_nothing_overlaps_in_a_layer() -> None:
    from asl.graph.layout import layout

    laid = layout(build_graph(NESTED))
    boxes = [(p.x - p.width / 2, p.y - p.height / 2, p.x + p.width / 2, p.y + p.height / 2) for p in laid.nodes]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)


def test_rules_in_words() -> None:
    assert rule_words({"Variable": "$.a", "NumericLessThanPath": "$.b"}) == "$.a < $.b"
    assert rule_words({"Not": {"Variable": "$.a", "IsNull": True}}) == "not ($.a is null)"
    assert rule_words({"Variable": "$.s", "StringMatches": "log-*"}) == '$.s matches "log-*"'
    assert rule_words({"Or": [{"Variable": "$.a", "BooleanEquals": True},
                              {"And": [{"Variable": "$.b", "IsString": False}, {"Variable": "$.c", "TimestampGreaterThan": "2026-01-01T00:00:00Z"}]}]}) \
        == '$.a == true or ($.b is not a string and $.c > "2026-01-01T00:00:00Z")'
    assert rule_words({"Condition": "{% $states.input.n > 3 %}"}) == "$states.input.n > 3"


def test_jsonata_and_awkward_names_draw_as_valid_svg() -> None:
    definition = {"QueryLanguage": "JSONata", "StartAt": "a<b & \"c\"", "States": {
        "a<b & \"c\"": {"Type": "Choice", "Choices": [{"Condition": "{% $states.input.x < 1 & 'y' %}", "Next": "ok/done"}],
                        "Default": "ok/done"},
        "ok/done": {"Type": "Succeed"}}}
    root = _tree(render_svg(definition))
    assert {g.get("data-state") for g in root.iter(f"{SVG}g") if g.get("data-state")} == {"a<b & \"c\"", "ok/done"}
    assert "$states.input.x < 1 & 'y'" in "".join(root.itertext())
    pointers = {g.get("data-pointer") for g in root.iter(f"{SVG}g") if g.get("data-pointer")}
    assert "/States/ok~1done" in pointers


def test_dot_and_html() -> None:
    dot = render_dot(NESTED)
    assert dot.startswith("digraph StateMachine {") and dot.count("subgraph cluster_") == 5
    for name in ALL_STATES:
        assert json.dumps(name) in dot
    assert '"Check" -> "Buy" [label="$.kind == \\"buy\\""]' in dot
    page = render_html(NESTED, title="nested")
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "http" not in page.replace(
        "http://www.w3.org/2000/svg", "")  # nothing fetched
    data = page.split('<script type="application/json" id="states">')[1].split("</script>")[0]
    assert set(json.loads(data)) == ALL_STATES


def test_a_big_definition_draws(tmp_path: Path) -> None:
    states: dict[str, Any] = {f"S{i}": {"Type": "Pass", "Next": f"S{i + 1}"} for i in range(499)}
    states["S499"] = {"Type": "Succeed"}
    states["S250"] = {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsPresent": True, "Next": "S10"}], "Default": "S251"}
    svg = render_svg({"StartAt": "S0", "States": states})
    assert len({g.get("data-state") for g in _tree(svg).iter(f"{SVG}g") if g.get("data-state")}) == 500


def test_cli_writes_svg_html_and_dot(tmp_path: Path) -> None:
    source = tmp_path / "nested.asl.json"
    source.write_text(json.dumps(NESTED))
    runner = CliRunner()
    for name, check in (("g.svg", "<svg"), ("g.html", "<!DOCTYPE html>"), ("g.dot", "digraph")):
        result = runner.invoke(main, ["graph", str(source), "-o", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        assert (tmp_path / name).read_text().startswith(check)
    result = runner.invoke(main, ["graph", str(source)])
    assert result.exit_code == 0 and result.output.startswith("<svg")
    result = runner.invoke(main, ["graph", str(source), "--format", "dot"])
    assert result.output.startswith("digraph")
    for example in sorted((ROOT / "examples").glob("*.asl.json")):
        assert runner.invoke(main, ["graph", str(example)]).exit_code == 0, example


def test_cli_bad_input(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = tmp_path / "bad.json"
    bad.write_text('{"StartAt": "X", "States": {}}')
    result = runner.invoke(main, ["graph", str(bad)])
    assert result.exit_code == 1 and "MISSING_TRANSITION_TARGET" in result.output
    bad.write_text("{not json")
    result = runner.invoke(main, ["graph", str(bad)])
    assert result.exit_code == 1 and "line 1" in result.output
    result = runner.invoke(main, ["graph", str(tmp_path / "missing.json")])
    assert result.exit_code == 2 and "cannot read file" in result.output
    source = tmp_path / "ok.json"
    source.write_text(json.dumps(NESTED))
    result = runner.invoke(main, ["graph", str(source), "-o", str(tmp_path / "no" / "such" / "dir.svg")])
    assert result.exit_code == 2 and "cannot write file" in result.output


def _boxes(root: ET.Element) -> dict[str, tuple[float, float, float, float]]:
    out = {}
    for g in root.iter(f"{SVG}g"):
        shape = next((c for c in g if c.get("class") in ("shape", "box")), None)
        if g.get("data-state") and shape is not None and shape.tag == f"{SVG}rect":
            x, y = float(shape.get("x") or 0), float(shape.get("y") or 0)
            out[g.get("data-state") or ""] = (x, y, x + float(shape.get("width") or 0), y + float(shape.get("height") or 0))
    return out


def test_what_a_trial_found_drawn_right() -> None:
    """A rule and the Default to one state, or two Catchers to one state, are one edge with both labels; a Map's
    processor with a loop back and labels stays inside the Map's box; every label lies inside the picture; status
    classes win over the type's colours (aborted too); a Distributed Map says so."""
    definition = {"StartAt": "Outer", "States": {
        "Outer": {"Type": "Map", "End": True, "Catch": [{"ErrorEquals": ["E"], "Next": "Handle"}],
                  "ItemProcessor": {"StartAt": "Poll", "States": {
                      "Poll": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:ok", "Next": "Ready?",
                               "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "GiveUp"},
                                         {"ErrorEquals": ["States.ALL"], "Next": "GiveUp"}]},
                      "Ready?": {"Type": "Choice", "Default": "Sleep", "Choices": [
                          {"Not": {"Variable": "$.done", "IsPresent": True}, "Next": "Sleep"},
                          {"Variable": "$.done.x", "NumericGreaterThanEquals": 10, "Next": "Ok"}]},
                      "Sleep": {"Type": "Wait", "Seconds": 2, "Next": "Poll"},
                      "GiveUp": {"Type": "Fail"}, "Ok": {"Type": "Succeed"}}}},
        "Handle": {"Type": "Pass", "End": True}}}
    svg = render_svg(definition)
    root = _tree(svg)
    edges = [(g.get("data-from"), g.get("data-to"), g.get("class"), "".join(g.itertext())) for g in _groups(root, "edge")]
    to_sleep = [e for e in edges if e[:2] == ("Ready?", "Sleep")]
    assert len(to_sleep) == 1 and "kind-choice" in (to_sleep[0][2] or "") and "Default" in to_sleep[0][3]
    to_give_up = [e for e in edges if e[:2] == ("Poll", "GiveUp")]
    assert len(to_give_up) == 1 and "States.Timeout" in to_give_up[0][3] and "States.ALL" in to_give_up[0][3]
    boxes = _boxes(root)
    branch = next(g for g in _groups(root, "branch"))
    rect = next(c for c in branch if c.tag == f"{SVG}rect")
    bx0, bx1 = float(rect.get("x") or 0), float(rect.get("x") or 0) + float(rect.get("width") or 0)
    ox0, _, ox1, _ = boxes["Outer"]
    assert ox0 <= bx0 and bx1 <= ox1  # the processor's box inside the Map's
    for name in ("Poll", "Sleep", "Ok", "GiveUp"):
        assert bx0 <= boxes[name][0] and boxes[name][2] <= bx1, name
    vx, _, vw, _ = (float(v) for v in (root.get("viewBox") or "").split())
    for text in root.iter(f"{SVG}text"):
        x, anchor = float(text.get("x") or 0), text.get("text-anchor")
        width = len(text.text or "") * 6.2
        start = x - width if anchor == "end" else x - width / 2 if anchor == "middle" else x
        assert vx <= start + 1 and start + width <= vx + vw + 1, text.text
    assert ".node.status-aborted > .shape" in svg and ".cluster.status-failed > .box" in svg
    distributed = {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "End": True, "ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "Parameters": {}},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                          "StartAt": "W", "States": {"W": {"Type": "Pass", "End": True}}}}}}
    assert "distributed (standard), reads s3:getObject" in "".join(_tree(render_svg(distributed)).itertext())


def test_cli_refuses_an_extension_it_cannot_write(tmp_path: Path) -> None:
    source = tmp_path / "ok.json"
    source.write_text(json.dumps(NESTED))
    result = CliRunner().invoke(main, ["graph", str(source), "-o", str(tmp_path / "g.png")])
    assert result.exit_code == 2 and "cannot tell the format" in result.output and not (tmp_path / "g.png").exists()
    result = CliRunner().invoke(main, ["graph", str(source), "-o", str(tmp_path / "g.txt"), "--format", "dot"])
    assert result.exit_code == 0 and (tmp_path / "g.txt").read_text().startswith("digraph")
