"""Pictures of state machines: a definition as a graph (``model``), laid out in layers (``layout``), drawn as SVG,
a standalone HTML page, or Graphviz DOT (``render``). Pure Python: nothing to install, nothing fetched."""

from __future__ import annotations

from .model import Block, Edge, Node, build_graph, rule_words
from .render import render_dot, render_html, render_svg

__all__ = ["Block", "Edge", "Node", "build_graph", "render_dot", "render_html", "render_svg", "rule_words"]
