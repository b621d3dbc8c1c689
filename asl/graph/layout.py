"""A layered (Sugiyama-style) layout of a graph block, top to bottom, in pure Python.

Per block: back edges found by a depth-first walk from the start; layers by longest path over the rest; an edge
spanning several layers gets a chain of waypoints; order within layers by barycentre sweeps; x by pulling each
node toward its neighbours while keeping order and gaps. A Parallel or Map node is laid out as a box holding its
blocks side by side, each laid out the same way. Back edges are routed around the right of what they pass.

Linear in the graph's size per sweep: a 500-state definition lays out in well under a second.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .model import END, START, Block, Edge, Node

CHAR_WIDTH = 7.0  # px per character at the 12 px font the SVG uses (an estimate: no font metrics here)
NODE_HEIGHT = 36.0
DETAIL_HEIGHT = 14.0
LAYER_GAP = 44.0
NODE_GAP = 28.0
CLUSTER_PAD = 14.0
CLUSTER_HEADER = 26.0
TERMINAL = 22.0
DUMMY_WIDTH = 12.0
SWEEPS = 6
SECOND_LINE = 34
CLUSTER_DETAIL = 64
NAME_CHARS = 48  # a state's name is drawn cut to this many characters (whole in the tooltip)
EDGE_LABEL_CHARS = 30
LABEL_CHAR_WIDTH = 6.2  # px per character of an edge label (10.5 px font)


@dataclass
class Placed:
    """A node with its box (``x``, ``y`` its centre) and, for a Parallel/Map, its laid-out blocks."""

    node: Node
    x: float = 0.0
    y: float = 0.0
    width: float = 0.0
    height: float = 0.0
    blocks: list[Laid] = field(default_factory=list)


@dataclass
class Route:
    """An edge's points, source to target."""

    edge: Edge
    points: list[tuple[float, float]]
    back: bool = False
    label_at: tuple[float, float, str] | None = None  # x, y and text-anchor of the edge's label


@dataclass
class Laid:
    """A laid-out block: its nodes and routes, relative to its own origin, and its size."""

    nodes: list[Placed]
    routes: list[Route]
    width: float
    height: float
    x0: float = 0.0  # where the block's box starts (its content, lanes and labels lie within width x height)
    y0: float = 0.0

    def shifted(self, dx: float, dy: float) -> Laid:
        """The same layout moved by (dx, dy), nested blocks too."""
        nodes = [Placed(p.node, p.x + dx, p.y + dy, p.width, p.height, [b.shifted(dx, dy) for b in p.blocks])
                 for p in self.nodes]
        routes = [Route(r.edge, [(x + dx, y + dy) for x, y in r.points], r.back,
                        None if r.label_at is None else (r.label_at[0] + dx, r.label_at[1] + dy, r.label_at[2]))
                  for r in self.routes]
        return Laid(nodes, routes, self.width, self.height, self.x0 + dx, self.y0 + dy)


def _size(node: Node) -> tuple[float, float, list[Laid]]:
    if node.type in ("Start", "End"):
        return TERMINAL, TERMINAL, []
    # second lines are drawn cut to SECOND_LINE characters (whole in the tooltip)
    text = max(min(len(node.name), NAME_CHARS), min(len(node.detail), SECOND_LINE) * 0.85,
               min(len(node.retry) + 2, SECOND_LINE) * 0.85)
    if node.blocks:  # a box has room for its whole detail line (a Distributed Map's reader and writer)
        text = max(text, min(len(node.detail), CLUSTER_DETAIL) * 0.85)
        inner = [layout(b) for b in node.blocks]
        width = sum(b.width for b in inner) + NODE_GAP * (len(inner) - 1) + 2 * CLUSTER_PAD
        width = max(width, text * CHAR_WIDTH + 2 * CLUSTER_PAD)
        height = max((b.height for b in inner), default=0.0) + CLUSTER_HEADER + 2 * CLUSTER_PAD
        height += DETAIL_HEIGHT * (bool(node.retry) + bool(node.detail))
        return width, height, inner
    height = NODE_HEIGHT + DETAIL_HEIGHT * (bool(node.detail) + bool(node.retry))
    return max(text * CHAR_WIDTH + 28.0, 90.0), height, []


def _back_edges(names: list[str], start: str, succ: dict[str, list[str]]) -> set[tuple[str, str]]:
    """Edges that close a cycle in a depth-first walk from the start, then from any state not reached."""
    state: dict[str, int] = {}  # 1 on the walk's stack, 2 done
    back: set[tuple[str, str]] = set()
    roots = ([start] if start in succ else []) + names
    for root in roots:
        if root in state:
            continue
        stack = [(root, iter(succ[root]))]
        state[root] = 1
        while stack:
            name, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[name] = 2
                stack.pop()
            elif state.get(child) == 1:
                back.add((name, child))
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(succ[child])))
    return back


def _layers(names: list[str], forward: list[tuple[str, str]]) -> dict[str, int]:
    """Longest-path layering over the acyclic edges (Kahn's order)."""
    indegree = {n: 0 for n in names}
    succ: dict[str, list[str]] = {n: [] for n in names}
    for s, t in forward:
        succ[s].append(t)
        indegree[t] += 1
    layer = {n: 0 for n in names}
    ready = [n for n in names if indegree[n] == 0]
    while ready:
        n = ready.pop()
        for t in succ[n]:
            layer[t] = max(layer[t], layer[n] + 1)
            indegree[t] -= 1
            if indegree[t] == 0:
                ready.append(t)
    return layer


def layout(block: Block) -> Laid:
    """Lay out ``block`` (recursively for Parallel and Map nodes)."""
    nodes = {n.name: n for n in block.nodes}
    names = list(nodes)
    placed = {}
    for name, node in nodes.items():
        w, h, inner = _size(node)
        placed[name] = Placed(node, 0.0, 0.0, w, h, inner)
    if END in placed:  # the end marker sits below everything
        names.remove(END)
        names.append(END)
    succ: dict[str, list[str]] = {n: [] for n in names}
    for e in block.edges:
        if e.source in succ and e.target in succ and e.target not in succ[e.source]:
            succ[e.source].append(e.target)
    back = _back_edges(names, block.start, succ)
    forward = [(s, t) for s in names for t in succ[s] if (s, t) not in back and s != t]
    layer = _layers(names, forward)
    if END in layer:
        layer[END] = max(layer.values(), default=0) + (1 if len(names) > 1 else 0)

    # chains of waypoints for edges that span layers
    width_of: dict[str, float] = {n: placed[n].width for n in names}
    layer_of = dict(layer)
    chains: dict[tuple[str, str], list[str]] = {}
    links: list[tuple[str, str]] = []
    for s, t in forward:
        chain = [s]
        for k in range(layer[s] + 1, layer[t]):
            dummy = f"\x01{s}\x02{t}\x03{k}"
            layer_of[dummy] = k
            width_of[dummy] = DUMMY_WIDTH
            chain.append(dummy)
        chain.append(t)
        chains[(s, t)] = chain
        links.extend(zip(chain, chain[1:], strict=False))
    rows: list[list[str]] = [[] for _ in range(max(layer_of.values(), default=-1) + 1)]
    for n in names:  # definition order first, then waypoints, as the initial order
        rows[layer_of[n]].append(n)
    for d in layer_of:
        if d not in layer:
            rows[layer_of[d]].append(d)
    up: dict[str, list[str]] = {n: [] for n in layer_of}
    down: dict[str, list[str]] = {n: [] for n in layer_of}
    for s, t in links:
        down[s].append(t)
        up[t].append(s)
    _order(rows, up, down)
    x = _place_x(rows, up, down, width_of)
    ys, height = _place_y(rows, placed)
    for n in names:
        placed[n].x, placed[n].y = x[n], ys[layer_of[n]]
    routes = _routes(block, placed, chains, back, x, ys, layer_of, width_of)
    left = min((x[n] - width_of[n] / 2 for n in layer_of), default=0.0)
    right = max((x[n] + width_of[n] / 2 for n in layer_of), default=0.0)
    right = max([right] + [px for r in routes if r.back for px, _ in r.points])
    left = min([left] + [px for r in routes if r.back for px, _ in r.points])
    for r in routes:  # room for the labels too
        if r.label_at is not None:
            span = min(len(r.edge.label), EDGE_LABEL_CHARS) * LABEL_CHAR_WIDTH
            lx, _, anchor = r.label_at
            left, right = min(left, lx - span if anchor == "end" else lx), max(right, lx + span if anchor == "start" else lx)
    laid = Laid([placed[n] for n in names], routes, right - left, height, left, 0.0)
    return _settle(laid).shifted(-left, 0.0)


def _settle(laid: Laid) -> Laid:
    """Place each Parallel/Map node's blocks inside its box (each was laid out, settled, at its own origin)."""
    out = []
    for p in laid.nodes:
        if p.blocks:
            top = (p.y - p.height / 2 + CLUSTER_HEADER + CLUSTER_PAD
                   + DETAIL_HEIGHT * (bool(p.node.retry) + bool(p.node.detail)))
            total = sum(b.width for b in p.blocks) + NODE_GAP * (len(p.blocks) - 1)
            cursor = p.x - total / 2
            blocks = []
            for b in p.blocks:
                blocks.append(b.shifted(cursor, top))
                cursor += b.width + NODE_GAP
            p = Placed(p.node, p.x, p.y, p.width, p.height, blocks)
        out.append(p)
    return Laid(out, laid.routes, laid.width, laid.height, laid.x0, laid.y0)


def _order(rows: list[list[str]], up: dict[str, list[str]], down: dict[str, list[str]]) -> None:
    """Reduce crossings: sort each row by the mean position of its neighbours in the row above (then below)."""
    for sweep in range(SWEEPS):
        downward = sweep % 2 == 0
        sequence = range(1, len(rows)) if downward else range(len(rows) - 2, -1, -1)
        for i in sequence:
            ref = rows[i - 1] if downward else rows[i + 1]
            pos = {n: k for k, n in enumerate(ref)}
            keyed = []
            for k, n in enumerate(rows[i]):
                near = [pos[m] for m in (up[n] if downward else down[n]) if m in pos]
                keyed.append((sum(near) / len(near) if near else float(k), k, n))
            rows[i] = [n for _, _, n in sorted(keyed)]


def _place_x(rows: list[list[str]], up: dict[str, list[str]], down: dict[str, list[str]],
             width: dict[str, float]) -> dict[str, float]:
    """x centres: rows packed, then each node pulled toward its neighbours' mean, keeping order and gaps."""
    x: dict[str, float] = {}
    for row in rows:
        cursor = 0.0
        for n in row:
            x[n] = cursor + width[n] / 2
            cursor += width[n] + NODE_GAP
    for sweep in range(SWEEPS * 2):
        downward = sweep % 2 == 0
        sequence = range(1, len(rows)) if downward else range(len(rows) - 2, -1, -1)
        for i in sequence:
            row = rows[i]
            want = []
            for n in row:
                near = up[n] if downward else down[n]
                want.append(sum(x[m] for m in near) / len(near) if near else x[n])
            _pack(row, want, width, x)
    return x


def _pack(row: list[str], want: list[float], width: dict[str, float], x: dict[str, float]) -> None:
    """Positions as close to ``want`` as the row's order and gaps allow (a left pass, a right pass, averaged)."""
    if not row:
        return
    left = list(want)
    for k in range(1, len(row)):
        left[k] = max(left[k], left[k - 1] + (width[row[k - 1]] + width[row[k]]) / 2 + NODE_GAP)
    right = list(want)
    for k in range(len(row) - 2, -1, -1):
        right[k] = min(right[k], right[k + 1] - (width[row[k + 1]] + width[row[k]]) / 2 - NODE_GAP)
    merged = [(a + b) / 2 for a, b in zip(left, right, strict=True)]
    for k in range(1, len(row)):
        merged[k] = max(merged[k], merged[k - 1] + (width[row[k - 1]] + width[row[k]]) / 2 + NODE_GAP)
    for n, value in zip(row, merged, strict=True):
        x[n] = value


def _place_y(rows: list[list[str]], placed: dict[str, Placed]) -> tuple[list[float], float]:
    ys: list[float] = []
    cursor = 0.0
    for row in rows:
        tall = max((placed[n].height for n in row if n in placed), default=DUMMY_WIDTH)
        ys.append(cursor + tall / 2)
        cursor += tall + LAYER_GAP
    return ys, max(cursor - LAYER_GAP, 0.0)


def _routes(block: Block, placed: dict[str, Placed], chains: dict[tuple[str, str], list[str]],
            back: set[tuple[str, str]], x: dict[str, float], ys: list[float], layer_of: dict[str, int],
            width_of: dict[str, float]) -> list[Route]:
    routes: list[Route] = []
    lanes = 0
    for e in block.edges:
        if e.source not in placed or e.target not in placed:
            continue
        s, t = placed[e.source], placed[e.target]
        if (e.source, e.target) in chains and (e.source, e.target) not in back:
            points = [(s.x, s.y + s.height / 2)]
            points += [(x[d], ys[layer_of[d]]) for d in chains[(e.source, e.target)][1:-1]]
            points.append((t.x, t.y - t.height / 2))
            routes.append(Route(e, points))
            continue
        # a back edge (or a state to itself): out of the source's side, along a lane beside everything in the
        # layers it passes, into the target's same side; the side nearer the source, so it crosses less
        low, high = sorted((layer_of[e.source], layer_of[e.target]))
        passed = [n for n in layer_of if low <= layer_of[n] <= high]
        right_edge = max(x[n] + width_of[n] / 2 for n in passed)
        left_edge = min(x[n] - width_of[n] / 2 for n in passed)
        lanes += 1
        if right_edge - (s.x + s.width / 2) <= (s.x - s.width / 2) - left_edge:
            lane, sx, tx = right_edge + 14.0 * lanes, s.x + s.width / 2, t.x + t.width / 2
        else:
            lane, sx, tx = left_edge - 14.0 * lanes, s.x - s.width / 2, t.x - t.width / 2
        routes.append(Route(e, [(sx, s.y + 6), (lane, s.y + 6), (lane, t.y - 6), (tx, t.y - 6)], back=True))
    _place_labels(routes)
    return routes


def _place_labels(routes: list[Route]) -> None:
    """Each label on its edge's first stretch, where the edges of one source part, on the side the edge heads to;
    labels of one source's edges at staggered heights so they do not meet."""
    seen: dict[str, int] = {}
    for r in routes:
        if not r.edge.label:
            continue
        k = seen.get(r.edge.source, 0)
        seen[r.edge.source] = k + 1
        if r.back:
            (_, y1), (lane, _), (_, y2) = r.points[0], r.points[1], r.points[2]
            anchor = "start" if lane >= r.points[0][0] else "end"
            r.label_at = (lane + (4 if anchor == "start" else -4), (y1 + y2) / 2 + 13 * k, anchor)
            continue
        (x1, y1), (x2, y2) = r.points[0], r.points[1]
        # a row of its own below the source (13 px apart), where the edge is at that height
        ly = min(y1 + 10 + 13 * k, y1 + (y2 - y1) * 0.85)
        along = (ly - y1) / (y2 - y1) if y2 != y1 else 0.5
        # the drawn curve leaves vertically and bends halfway: follow it roughly (a smoothstep of the line)
        lx = x1 + (x2 - x1) * (along * along * (3 - 2 * along))
        if x2 < x1 - 1:
            r.label_at = (lx - 5, ly, "end")
        else:
            r.label_at = (lx + 5, ly, "start")


__all__ = ["END", "START", "Laid", "Placed", "Route", "layout"]
