"""A laid-out graph as SVG (self-contained, with its own style), as a standalone HTML page, and a definition's
graph as Graphviz DOT.

The SVG's elements carry what a page needs to colour a run without laying out again: every state is a
``g.node.state.type-<Type>`` with ``data-state`` (state names are unique in a whole machine, nested ones too);
Parallel and Map states are ``g.cluster.type-<Type>`` boxes with ``data-state``, their branches
``g.cluster.branch``; edges are ``g.edge.kind-<next|choice|default|catch>`` with ``data-from``/``data-to``. The
style colours the classes ``status-succeeded|failed|caught|retried|running|aborted|notreached`` and ``edge-taken``
(over the colours of the types).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from .layout import (
    CLUSTER_DETAIL,
    CLUSTER_HEADER,
    DETAIL_HEIGHT,
    EDGE_LABEL_CHARS,
    LABEL_CHAR_WIDTH,
    NAME_CHARS,
    SECOND_LINE,
    Laid,
    Placed,
    Route,
    layout,
)
from .model import END, START, Block, build_graph

MARGIN = 16.0
LABEL_CHARS = NAME_CHARS

STYLE = """
.asl-graph { font: 12px system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; }
.asl-graph .node > .shape { fill: #f4f6f8; stroke: #687078; stroke-width: 1.2; }
.asl-graph .type-Task > .shape { fill: #e8f1fb; stroke: #3a78c2; }
.asl-graph .type-Choice > .shape { fill: #fdf6e3; stroke: #b58900; }
.asl-graph .type-Wait > .shape { fill: #f3eefb; stroke: #7c5cc4; }
.asl-graph .type-Succeed > .shape { fill: #e9f7ef; stroke: #2e8b57; }
.asl-graph .type-Fail > .shape { fill: #fdecea; stroke: #c0392b; }
.asl-graph .terminal > .shape { fill: #39424e; stroke: #39424e; }
.asl-graph .name { font-weight: 600; fill: #16191f; }
.asl-graph .detail { fill: #545b64; font-size: 11px; }
.asl-graph .retry { fill: #8d6708; font-size: 11px; }
.asl-graph .cluster > .box { fill: none; stroke: #8a939c; stroke-dasharray: 6 4; stroke-width: 1.2; }
.asl-graph .cluster.branch > .box { fill: #fafbfc; stroke: #d5dbdb; stroke-dasharray: none; }
.asl-graph .cluster > .name { fill: #16191f; }
.asl-graph .edge > path { fill: none; stroke: #8a939c; stroke-width: 1.3; marker-end: url(#asl-arrow); }
.asl-graph .edge.kind-default > path { stroke-dasharray: 5 3; }
.asl-graph .edge.kind-catch > path { stroke: #d9822b; stroke-dasharray: 4 3; }
.asl-graph .edge > text { fill: #545b64; font-size: 10.5px; paint-order: stroke; stroke: #ffffff; stroke-width: 3px;
  stroke-linejoin: round; }
.asl-graph .edge.kind-catch > text { fill: #b5651d; }
.asl-graph .node.status-succeeded > .shape, .asl-graph .cluster.status-succeeded > .box { fill: #d4f0dc; stroke: #1d8102; stroke-width: 2; }
.asl-graph .node.status-failed > .shape, .asl-graph .cluster.status-failed > .box { fill: #fbd9d4; stroke: #d13212; stroke-width: 2; }
.asl-graph .node.status-caught > .shape, .asl-graph .cluster.status-caught > .box { fill: #fde8cf; stroke: #d9822b; stroke-width: 2; }
.asl-graph .node.status-retried > .shape, .asl-graph .cluster.status-retried > .box { stroke: #b58900; stroke-width: 2.5; }
.asl-graph .node.status-running > .shape, .asl-graph .cluster.status-running > .box { fill: #d6e8fa; stroke: #0073bb; stroke-width: 2.5; }
.asl-graph .node.status-aborted > .shape, .asl-graph .cluster.status-aborted > .box { fill: #eddad6; stroke: #7d2105; stroke-width: 2; }
.asl-graph .status-notreached { opacity: 0.45; }
.asl-graph .edge.edge-taken > path { stroke: #1d8102; stroke-width: 2.2; }
.asl-graph .node.state, .asl-graph .cluster[data-state] > .name { cursor: pointer; }
.asl-graph .node.selected > .shape, .asl-graph .cluster.selected > .box { stroke: #ff9900; stroke-width: 3; }
"""

_DEFS = ('<defs><marker id="asl-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
         'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#8a939c"/></marker></defs>')


def _short(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text(x: float, y: float, cls: str, text: str, anchor: str = "middle", limit: int = LABEL_CHARS) -> str:
    return (f'<text class="{cls}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" '
            f'dominant-baseline="central">{escape(_short(text, limit))}</text>')


def _shape(p: Placed) -> str:
    left, top, w, h = p.x - p.width / 2, p.y - p.height / 2, p.width, p.height
    kind = p.node.type
    if kind in ("Start", "End"):
        return f'<circle class="shape" cx="{p.x:.1f}" cy="{p.y:.1f}" r="{w / 2:.1f}"/>'
    if kind == "Choice":
        d = 12.0
        points = [(left + d, top), (left + w - d, top), (left + w, p.y), (left + w - d, top + h), (left + d, top + h),
                  (left, p.y)]
        return '<polygon class="shape" points="' + " ".join(f"{a:.1f},{b:.1f}" for a, b in points) + '"/>'
    radius = h / 2 if kind in ("Succeed", "Fail") else 6.0
    return (f'<rect class="shape" x="{left:.1f}" y="{top:.1f}" width="{w:.1f}" height="{h:.1f}" '
            f'rx="{radius:.1f}"/>')


def _title(p: Placed) -> str:
    lines = [f"{p.node.name} ({p.node.type})"] + [s for s in (p.node.detail, p.node.retry) if s]
    return f"<title>{escape(chr(10).join(lines))}</title>"


def _node(p: Placed) -> str:
    node = p.node
    if node.type in ("Start", "End"):
        which = "start" if node.name == START else "end"
        return f'<g class="node terminal" data-terminal="{which}"><title>{which}</title>{_shape(p)}</g>'
    classes = f"node state type-{node.type}" + (" has-retry" if node.retry else "") + (" has-catch" if node.catch else "")
    lines = [("name", node.name)] + [(c, s) for c, s in (("detail", node.detail), ("retry", "↻ " + node.retry)) if s
                                     and s != "↻ "]
    first = p.y - DETAIL_HEIGHT * (len(lines) - 1) / 2
    texts = "".join(_text(p.x, first + DETAIL_HEIGHT * i, cls, s, limit=LABEL_CHARS if i == 0 else SECOND_LINE)
                    for i, (cls, s) in enumerate(lines))
    return (f'<g class="{classes}" data-state={quoteattr(node.name)} data-type="{node.type}" '
            f'data-pointer={quoteattr(node.pointer)}>{_title(p)}{_shape(p)}{texts}</g>')


def _cluster(p: Placed) -> str:
    node = p.node
    left, top = p.x - p.width / 2, p.y - p.height / 2
    classes = f"cluster type-{node.type}" + (" has-retry" if node.retry else "") + (" has-catch" if node.catch else "")
    parts = [f'<g class="{classes}" data-state={quoteattr(node.name)} data-type="{node.type}" '
             f'data-pointer={quoteattr(node.pointer)}>{_title(p)}',
             f'<rect class="box" x="{left:.1f}" y="{top:.1f}" width="{p.width:.1f}" height="{p.height:.1f}" rx="8"/>',
             _text(left + 10, top + CLUSTER_HEADER / 2 + 2, "name", f"{node.type}: {node.name}", "start")]
    extra = [(c, t) for c, t in (("detail", node.detail), ("retry", "↻ " + node.retry if node.retry else "")) if t]
    for i, (cls, line) in enumerate(extra, start=1):
        parts.append(_text(left + 10, top + CLUSTER_HEADER / 2 + 2 + DETAIL_HEIGHT * i, cls, line, "start",
                           CLUSTER_DETAIL if cls == "detail" else SECOND_LINE))
    for i, block in enumerate(p.blocks):
        parts.append(f'<g class="cluster branch" data-branch="{i}">')
        parts.append(f'<rect class="box" x="{block.x0 - 6:.1f}" y="{block.y0 - 6:.1f}" '
                     f'width="{block.width + 12:.1f}" height="{block.height + 12:.1f}" rx="6"/>')
        parts.append(_content(block))
        parts.append("</g>")
    parts.append("</g>")
    return "".join(parts)


def _path(points: list[tuple[float, float]], back: bool) -> str:
    x0, y0 = points[0]
    d = [f"M{x0:.1f},{y0:.1f}"]
    if back:
        d += [f"L{x:.1f},{y:.1f}" for x, y in points[1:]]
    else:
        for (x1, y1), (x2, y2) in zip(points, points[1:], strict=False):
            ym = (y1 + y2) / 2
            d.append(f"C{x1:.1f},{ym:.1f} {x2:.1f},{ym:.1f} {x2:.1f},{y2:.1f}")
    return " ".join(d)


def _edge(r: Route) -> str:
    e = r.edge
    source = "" if e.source == START else e.source
    target = "" if e.target == END else e.target
    label = ""
    if e.label and r.label_at is not None:
        lx, ly, anchor = r.label_at
        label = _text(lx, ly, "label", e.label, anchor, EDGE_LABEL_CHARS) + f"<title>{escape(e.label)}</title>"
    return (f'<g class="edge kind-{e.kind}" data-from={quoteattr(source)} data-to={quoteattr(target)}>'
            f'<path d="{_path(r.points, r.back)}"/>{label}</g>')


def _content(laid: Laid) -> str:
    clusters = "".join(_cluster(p) for p in laid.nodes if p.blocks)
    edges = "".join(_edge(r) for r in laid.routes)
    nodes = "".join(_node(p) for p in laid.nodes if not p.blocks)
    return clusters + edges + nodes


def _extent(laid: Laid) -> tuple[float, float, float, float]:
    xs, ys = [0.0], [0.0]
    for p in laid.nodes:
        xs += [p.x - p.width / 2, p.x + p.width / 2]
        ys += [p.y - p.height / 2, p.y + p.height / 2]
        for block in p.blocks:
            x0, y0, x1, y1 = _extent(block)
            xs += [x0, x1]
            ys += [y0, y1]
    for r in laid.routes:
        xs += [x for x, _ in r.points]
        ys += [y for _, y in r.points]
        if r.label_at is not None:  # room for the label's text on its side of its anchor
            lx, ly, anchor = r.label_at
            span = min(len(r.edge.label), EDGE_LABEL_CHARS) * LABEL_CHAR_WIDTH
            xs.append(lx - span if anchor == "end" else lx + span)
            ys.append(ly + 8)
    return min(xs), min(ys), max(xs), max(ys)


def render_svg(definition: Mapping[str, Any]) -> str:
    """The definition's graph as a standalone SVG document (see the module's docstring for its classes)."""
    return svg_of(layout(build_graph(definition)))


def svg_of(laid: Laid) -> str:
    """SVG of a laid-out graph."""
    x0, y0, x1, y1 = _extent(laid)
    width, height = x1 - x0 + 2 * MARGIN, y1 - y0 + 2 * MARGIN
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="asl-graph" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="{x0 - MARGIN:.1f} {y0 - MARGIN:.1f} {width:.1f} {height:.1f}">'
            f"<style>{STYLE}</style>{_DEFS}{_content(laid)}</svg>")


def render_html(definition: Mapping[str, Any], title: str = "State machine") -> str:
    """A self-contained page: the graph, and each state's definition shown when it is clicked (no network)."""
    states: dict[str, Any] = {}
    _collect(definition, states)
    data = json.dumps(states, ensure_ascii=False).replace("</", "<\\/")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>
body {{ margin: 0; display: flex; font: 13px system-ui, sans-serif; color: #16191f; }}
main {{ flex: 1; overflow: auto; padding: 12px; }} aside {{ width: 34%; border-left: 1px solid #d5dbdb;
padding: 12px; overflow: auto; height: 100vh; box-sizing: border-box; }}
pre {{ white-space: pre-wrap; font-size: 12px; background: #f4f6f8; padding: 8px; border-radius: 4px; }}
</style></head><body>
<main><h1 style="font-size:16px">{escape(title)}</h1>{render_svg(definition)}</main>
<aside><h2 id="name" style="font-size:14px">Click a state</h2><pre id="body"></pre></aside>
<script type="application/json" id="states">{data}</script>
<script>
const states = JSON.parse(document.getElementById("states").textContent);
document.querySelectorAll("[data-state]").forEach(el => el.addEventListener("click", ev => {{
  ev.stopPropagation();
  document.querySelectorAll(".selected").forEach(s => s.classList.remove("selected"));
  el.classList.add("selected");
  const name = el.getAttribute("data-state");
  document.getElementById("name").textContent = name;
  document.getElementById("body").textContent = JSON.stringify(states[name], null, 2);
}}));
</script></body></html>
"""


def _collect(parent: Mapping[str, Any], into: dict[str, Any]) -> None:
    states = parent.get("States")
    if not isinstance(states, Mapping):
        return
    for name, state in states.items():
        into[name] = state
        if isinstance(state, Mapping):
            for branch in state.get("Branches") or [] if isinstance(state.get("Branches"), list) else []:
                if isinstance(branch, Mapping):
                    _collect(branch, into)
            for key in ("ItemProcessor", "Iterator"):
                if isinstance(state.get(key), Mapping):
                    _collect(state[key], into)


def _dot_id(name: str) -> str:
    return {START: '"__start__"', END: '"__end__"'}.get(name) or json.dumps(name, ensure_ascii=False)


def _dot_block(block: Block, indent: str, out: list[str], counter: list[int]) -> None:
    shapes = {"Choice": "diamond", "Succeed": "oval", "Fail": "oval", "Start": "circle", "End": "doublecircle"}
    for node in block.nodes:
        if node.blocks:
            counter[0] += 1
            out.append(f"{indent}subgraph cluster_{counter[0]} {{")
            out.append(f'{indent}  label={_dot_id(node.type + ": " + node.name)}; style=dashed;')
            out.append(f'{indent}  {_dot_id(node.name)} [shape=box, style="rounded,bold", label={_dot_id(node.name)}];')
            for i, inner in enumerate(node.blocks):
                counter[0] += 1
                out.append(f'{indent}  subgraph cluster_{counter[0]} {{ label="branch {i + 1}"; style=solid;')
                _dot_block(inner, indent + "    ", out, counter)
                out.append(f"{indent}  }}")
                if inner.start:
                    out.append(f"{indent}  {_dot_id(node.name)} -> {_dot_id(inner.start)} [style=dotted, arrowhead=none];")
            out.append(f"{indent}}}")
            continue
        lines = [] if node.type in ("Start", "End") else [node.name, node.detail, "↻ " + node.retry if node.retry else ""]
        label_text = json.dumps("\n".join(x for x in lines if x), ensure_ascii=False)[1:-1]
        out.append(f'{indent}{_dot_id(node.name)} [shape={shapes.get(node.type, "box")}, '
                   f'label="{label_text}", class="type-{node.type}"];')
    for e in block.edges:
        style = {"default": "style=dashed, ", "catch": 'style=dashed, color="#d9822b", '}.get(e.kind, "")
        label = f"label={_dot_id(_short(e.label))}" if e.label else ""
        out.append(f"{indent}{_dot_id(e.source)} -> {_dot_id(e.target)} [{style}{label}];")


def render_dot(definition: Mapping[str, Any]) -> str:
    """The definition's graph in Graphviz's DOT language (Parallel and Map as clusters)."""
    out = ["digraph StateMachine {", '  graph [fontname="Helvetica", compound=true];',
           '  node [fontname="Helvetica", fontsize=11, shape=box, style=rounded];', '  edge [fontname="Helvetica", fontsize=9];']
    _dot_block(build_graph(definition), "  ", out, [0])
    out.append("}")
    return "\n".join(out) + "\n"
