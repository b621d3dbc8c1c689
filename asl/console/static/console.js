/* asl console and reports.
 *
 * One script for both: it renders a view (the list, a state machine, an execution) from a *source*. In asl serve
 * the source is the Step Functions API (POST / with X-Amz-Target, as the AWS CLI calls it); in a report written by
 * `asl run --report` or `asl test --report` it is the data embedded in the page (#asl-data). The rendering code
 * only ever talks to the source's methods, so both show the same thing.
 *
 * The graph is the SVG of asl.graph.render_svg: states are elements with data-state, edges .edge with
 * data-from/data-to. The execution view colours it with status-* classes computed from the history (analyze()).
 */
(function () {
  "use strict";

  // ---------------------------------------------------------------------------------------------- DOM helpers
  function h(tag, props, children) {
    const node = document.createElement(tag);
    if (props) {
      for (const key in props) {
        const value = props[key];
        if (value == null || value === false) continue;
        if (key === "class") node.className = value;
        else if (key === "text") node.textContent = value;
        else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
        else node.setAttribute(key, value === true ? "" : value);
      }
    }
    add(node, children);
    return node;
  }
  function add(node, children) {
    if (children == null) return node;
    if (!Array.isArray(children)) children = [children];
    for (const c of children) {
      if (c == null || c === false) continue;
      if (Array.isArray(c)) add(node, c);  // a list among the children: its items (not the text of the list)
      else node.append(c instanceof Node ? c : String(c));
    }
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function link(href, text, cls) { return href ? h("a", { href: href, class: cls }, text) : h("span", { class: cls }, text); }
  function badge(status, text) { return h("span", { class: "badge s-" + status }, text || status); }
  const pad = (n, w) => String(n).padStart(w || 2, "0");
  function fmtTime(seconds) {
    if (seconds == null) return "";
    const d = new Date(seconds * 1000);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + pad(d.getHours()) + ":" +
      pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + "." + pad(d.getMilliseconds(), 3);
  }
  function fmtDuration(seconds) {
    if (seconds == null || isNaN(seconds)) return "";
    // each unit is chosen after rounding, so that a rounded value carries into the next unit (59.9996 s is
    // "60.0 s", 179.77 s "3 min 0 s", never "2 min 60 s")
    const ms = Math.round(seconds * 1000);
    if (ms < 1000) return ms + " ms";
    if (ms < 10000) return (ms / 1000).toFixed(3) + " s";
    const tenths = Math.round(seconds * 10);
    if (tenths < 1200) return (tenths / 10).toFixed(1) + " s";
    const total = Math.round(seconds), m = Math.floor(total / 60);
    if (m < 120) return m + " min " + (total % 60) + " s";
    return Math.floor(m / 60) + " h " + (m % 60) + " min";
  }
  function pretty(text) {
    if (text == null) return "";
    if (typeof text !== "string") return JSON.stringify(text, null, 2);
    try { return JSON.stringify(JSON.parse(text), null, 2); } catch (e) { return text; }
  }
  function block(title, text, open) {
    if (text == null) return null;
    return h("details", { open: open !== false }, [h("summary", null, title), h("pre", null, pretty(text))]);
  }
  function kv(pairs) {
    const box = h("div", { class: "kv" });
    for (const [k, v] of pairs) {
      if (v == null || v === "") continue;
      add(box, [h("div", { class: "k" }, k), h("div", { class: "v" }, v)]);
    }
    return box;
  }
  function errorBox(err) { return h("p", { class: "error" }, String(err && err.message ? err.message : err)); }
  const enc = encodeURIComponent;
  const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  function esc(text) { return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]); }
  const detailKeys = new Map();  // event type -> the name of its details member
  function detailsOf(ev) {
    const known = detailKeys.get(ev.type);
    if (known !== undefined) return ev[known] || null;
    for (const key in ev) {
      if (key.length > 12 && key.slice(-12) === "EventDetails") { detailKeys.set(ev.type, key); return ev[key]; }
    }
    return null;
  }

  /** The state machine of the execution that started a Map Run: arn:…:mapRun:<machine>/<label>:<id> →
   * arn:…:stateMachine:<machine>. (Its children's own state machine, …:stateMachine:<machine>/<label>, has no
   * page: the console never links to it.) */
  function mapRunParentMachine(mapRunArn) {
    const parts = String(mapRunArn).split(":");
    if (parts.length < 8 || parts[5] !== "mapRun") return null;
    return parts.slice(0, 5).concat(["stateMachine", parts[6].split("/")[0]]).join(":");
  }
  /** A link to a Map Run's section further down the same page (a click scrolls to it, the route stays). */
  function mapRunAnchor(mapRunArn, text) {
    const id = "maprun-" + enc(mapRunArn);
    return h("a", { href: "#" + id, class: "map-run-link", onclick: (e) => {
      const el = document.getElementById(id);
      if (el) { e.preventDefault(); el.scrollIntoView(); }
    } }, text);
  }

  // ---------------------------------------------------------------------------------------------- sources
  class ApiError extends Error {
    constructor(code, message) { super(code + ": " + message); this.code = code; }
  }

  /** The Step Functions API of asl serve: the same calls the AWS CLI makes. */
  class ApiSource {
    constructor() { this.live = true; this.canAct = true; this.where = location.host; }
    async call(operation, body) {
      const response = await fetch("/", {
        method: "POST", body: JSON.stringify(body || {}),
        headers: { "X-Amz-Target": "AWSStepFunctions." + operation, "Content-Type": "application/x-amz-json-1.0" },
      });
      let data;
      try { data = await response.json(); } catch (e) { throw new ApiError("BadAnswer", operation + " answered " + response.status); }
      if (!response.ok) throw new ApiError(data.__type || response.status, data.message || "");
      return data;
    }
    async all(operation, body, key, limit) {
      let out = [], token;
      do {
        const page = await this.call(operation, Object.assign({}, body, token ? { nextToken: token } : {}));
        out = out.concat(page[key] || []);
        token = page.nextToken;
      } while (token && (!limit || out.length < limit));
      return out;
    }
    machines() { return this.all("ListStateMachines", { maxResults: 1000 }, "stateMachines"); }
    executions(machineArn, status) {
      const body = { stateMachineArn: machineArn, maxResults: 1000 };
      if (status) body.statusFilter = status;
      return this.all("ListExecutions", body, "executions", 10000);
    }
    machine(arn) { return this.call("DescribeStateMachine", { stateMachineArn: arn }); }
    async graph(kind, arn) {
      const response = await fetch((kind === "machine" ? "/state-machines/" : "/executions/") + enc(arn) + "/graph.svg");
      if (!response.ok) throw new Error("the graph cannot be drawn (" + response.status + ")");
      return response.text();
    }
    async execution(arn) {
      const [describe, forExecution] = await Promise.all([
        this.call("DescribeExecution", { executionArn: arn }),
        this.call("DescribeStateMachineForExecution", { executionArn: arn }),
      ]);
      return { describe: describe, definition: forExecution.definition };
    }
    /** The whole history: read oldest first and newest first at once, until the two meet in the middle. */
    async history(arn, progress) {
      const forward = [], backward = [];
      let high = 0, low = Infinity, done = false;
      const count = () => { if (progress) progress(forward.length + backward.length); };
      const read = async (reverse, pages, keep) => {
        let token;
        for (;;) {
          const page = await this.call("GetExecutionHistory", Object.assign({ executionArn: arn, maxResults: 1000,
            reverseOrder: reverse }, token ? { nextToken: token } : {}));
          pages.push(page.events);
          if (page.events.length) keep(page.events[page.events.length - 1].id);
          count();
          token = page.nextToken;
          if (!token || done || high >= low) { done = true; return; }
        }
      };
      await Promise.all([read(false, forward, (id) => { high = Math.max(high, id); }),
        read(true, backward, (id) => { low = Math.min(low, id); })]);
      const events = [].concat.apply([], forward);
      const last = events.length ? events[events.length - 1].id : 0;
      const tail = [].concat.apply([], backward).filter((e) => e.id > last).reverse();
      return events.concat(tail);
    }
    /** Events after lastId, read newest first until an event already shown. */
    async newEvents(arn, lastId) {
      let fresh = [], token;
      for (;;) {
        const page = await this.call("GetExecutionHistory", Object.assign({ executionArn: arn, maxResults: 200, reverseOrder: true },
          token ? { nextToken: token } : {}));
        let done = !page.nextToken;
        for (const ev of page.events) {
          if (ev.id <= lastId) { done = true; break; }
          fresh.push(ev);
        }
        if (done) break;
        token = page.nextToken;
      }
      return fresh.reverse();
    }
    async mapRuns(arn) {
      const runs = await this.all("ListMapRuns", { executionArn: arn, maxResults: 1000 }, "mapRuns");
      return Promise.all(runs.map(async (r) => ({
        describe: await this.call("DescribeMapRun", { mapRunArn: r.mapRunArn }),
        children: await this.all("ListExecutions", { mapRunArn: r.mapRunArn, maxResults: 1000 }, "executions", 10000),
      })));
    }
    describeMapRun(arn) { return this.call("DescribeMapRun", { mapRunArn: arn }); }
    stop(arn) { return this.call("StopExecution", { executionArn: arn, error: "Console", cause: "Stopped from the asl console" }); }
    redrive(arn) { return this.call("RedriveExecution", { executionArn: arn }); }
    href(kind, arn, query) {
      if (kind === "execution") return "/executions/" + enc(arn) + (query ? "?" + query : "");
      if (kind === "machine") return "/state-machines/" + enc(arn);
      return "/" + (query ? "?" + query : "");
    }
    /** The section of a Map Run on its parent execution's page. */
    mapRunHref(executionArn, mapRunArn) { return this.href("execution", executionArn) + "#maprun-" + enc(mapRunArn); }
    navigate(kind, arn, query) { location.href = this.href(kind, arn, query); }
  }

  /** The data a report carries inside its page: {executions: {arn: {describe, definition, events, graph,
   * mapRuns}}, list: [...], links: {arn: href}}. */
  class EmbeddedSource {
    constructor(data) { this.data = data; this.live = false; this.canAct = false; this.where = data.title || "report"; }
    ex(arn) {
      const ex = (this.data.executions || {})[arn];
      if (!ex) throw new Error("This report does not hold the execution " + arn);
      return ex;
    }
    async machines() { return this.data.machines || []; }
    async executions(machineArn, status) {
      return (this.data.list || []).filter((e) => (!machineArn || e.stateMachineArn === machineArn) && (!status || e.status === status));
    }
    async machine(arn) { throw new Error("This report does not hold the state machine " + arn); }
    async graph(kind, arn) {
      const g = this.ex(arn).graph;
      if (!g) throw new Error("the graph could not be drawn when the report was written");
      return g;
    }
    async execution(arn) { const ex = this.ex(arn); return { describe: ex.describe, definition: ex.definition, test: ex.test }; }
    async history(arn) { return this.ex(arn).events; }
    async newEvents() { return []; }
    async mapRuns(arn) { return this.ex(arn).mapRuns || []; }
    async describeMapRun(arn) {
      for (const key in this.data.executions) {
        for (const run of this.data.executions[key].mapRuns || []) if (run.describe.mapRunArn === arn) return run.describe;
      }
      throw new Error("This report does not hold the Map Run " + arn);
    }
    href(kind, arn, query) {
      if (kind === "execution") {
        if ((this.data.executions || {})[arn]) return "#/executions/" + enc(arn) + (query ? "?" + query : "");
        return (this.data.links || {})[arn] || null;
      }
      if (kind === "list") return !query && this.data.home ? this.data.home : "#/" + (query ? "?" + query : "");
      return null;
    }
    mapRunHref(executionArn, mapRunArn) { return this.href("execution", executionArn, "maprun=" + enc(mapRunArn)); }
    navigate(kind, arn, query) { location.hash = this.href(kind, arn, query) || "#/"; }
  }

  // ---------------------------------------------------------------------------------------------- analysis
  const FAILURE = /(Failed|TimedOut)$/;
  const ENDS = /^(Map|Parallel)State(Succeeded|Failed)$/;
  const STATUS_ORDER = ["running", "failed", "aborted", "caught", "succeeded"];

  /** What the definition says of each state: its type, the Parallel or Map it is in, whether it ends a block. */
  function structure(definition) {
    const parent = Object.create(null), type = Object.create(null), ends = Object.create(null);
    const ancestors = Object.create(null);
    function walk(blk, container, chain) {
      if (!blk || typeof blk !== "object" || !blk.States || typeof blk.States !== "object") return;
      for (const name in blk.States) {
        const st = blk.States[name] || {};
        parent[name] = container;
        type[name] = st.Type;
        ends[name] = st.End === true || st.Type === "Succeed" || st.Type === "Fail";
        ancestors[name] = chain;
        if (st.Type === "Parallel" && Array.isArray(st.Branches)) for (const b of st.Branches) walk(b, name, chain.concat([name]));
        if (st.Type === "Map") walk(st.ItemProcessor || st.Iterator, name, chain.concat([name]));
      }
    }
    walk(definition, null, []);
    return { parent: parent, type: type, ends: ends, ancestors: ancestors };
  }

  /** Each event's state (owner), Map iteration, and each state's visits and status, from the history. */
  function analyze(definition, events, executionStatus) {
    const st = structure(definition);
    const n = events.length;
    const index = new Map();
    for (let i = 0; i < n; i++) index.set(events[i].id, i);
    const owner = new Array(n), ctx = new Array(n), prevIdx = new Int32Array(n);
    const states = Object.create(null);
    const open = new Map();
    const edges = new Set();
    const exitCaught = new Map();
    const mapRuns = [];
    const nested = [];
    const running = executionStatus === "RUNNING";
    // a Map iteration context: [[map, index], ...] from the outermost, with its text made once (.key)
    const made = (c) => { c.key = c.map((p) => p[0] + "[" + p[1] + "]").join(" / "); return c; };
    const EMPTY = made([]);
    const ctxKey = (c) => c.key;
    const within = (c, name) => {
      // the iterations of the Maps that contain the state `name`
      if (!c.length) return c;
      const anc = st.ancestors[name] || EMPTY;
      let keep = true;
      for (const p of c) if (anc.indexOf(p[0]) < 0) { keep = false; break; }
      return keep ? c : made(c.filter((p) => anc.indexOf(p[0]) >= 0));
    };
    const above = (name, kind) => {  // the state `name` or the nearest around it of this type (null: none)
      for (let s = name; s != null; s = st.parent[s]) if (st.type[s] === kind) return s;
      return null;
    };
    const nearest = (name, kind) => above(name, kind) || name;
    const visitOf = (name, c) => { const w = within(c, name); return open.get(w.length ? name + "\u0001" + w.key : name); };
    function state(name) {
      let s = states[name];
      if (!s) s = states[name] = { name: name, type: st.type[name] || "?", visits: [] };
      return s;
    }
    for (let i = 0; i < n; i++) {
      const ev = events[i], t = ev.type, d = detailsOf(ev) || {};
      const p = index.has(ev.previousEventId) ? index.get(ev.previousEventId) : -1;
      prevIdx[i] = p;
      const pe = p >= 0 ? events[p] : null;
      const entered = t.slice(-12) === "StateEntered", exited = t.slice(-11) === "StateExited";
      let own;
      if (entered || exited) own = d.name;
      else if (t.slice(0, 12) === "MapIteration" && d.name) own = d.name;
      else if (!pe) own = null;
      else if (pe.type.slice(-11) === "StateExited") own = st.parent[owner[p]] != null ? st.parent[owner[p]] : null;
      else own = owner[p];
      if (own != null && !entered && !exited) {
        if (t.slice(0, 8) === "Parallel") own = nearest(own, "Parallel");
        else if (t.slice(0, 3) === "Map" && t.slice(0, 12) !== "MapIteration") own = nearest(own, "Map");
        if (ENDS.test(t)) {
          // a Map or Parallel that has ended already (a nested one whose failure this one follows) passes the
          // event to the one around it: MapStateFailed of an outer Map points at the inner Map's MapStateFailed
          const kind = t.charAt(0) === "M" ? "Map" : "Parallel", base = p >= 0 ? ctx[p] : EMPTY;
          for (let v = visitOf(own, base); own != null && v && v.ended; v = own != null ? visitOf(own, base) : null) {
            own = st.parent[own] != null ? above(st.parent[own], kind) : null;
          }
        }
      }
      let c = p >= 0 ? ctx[p] : EMPTY;
      let forced = null;
      if (own != null && t.slice(-12) === "StateAborted" && st.type[own] !== t.slice(0, -12)) {
        // a branch stopped because another failed: its *StateAborted follows the event that failed, so its state
        // is the open one of that type in the same Parallel or Map
        const kind = t.slice(0, -12), around = above(st.parent[own], "Parallel") || above(st.parent[own], "Map");
        for (const v of open.values()) {
          if (!v.aborted && v.exited < 0 && st.type[v.state] === kind &&
              (around == null || (st.ancestors[v.state] || EMPTY).indexOf(around) >= 0)) { forced = v; break; }
        }
        if (forced) own = forced.state;
      }
      if (own != null && t.slice(0, 9) === "Execution") {
        // the execution's own events (ExecutionFailed after a Map's MapStateFailed, ExecutionAborted,
        // ExecutionRedriven) belong to no state: the visit they follow only learns its status from them, and
        // keeps the execution's end to show its error when its own events carry none
        const v = visitOf(own, p >= 0 ? ctx[p] : EMPTY);
        if (v) {
          if (FAILURE.test(t)) {
            v.execution = i;
            if (v.pending < 0) v.pending = i;
            if (pe && pe.type.slice(-12) === "StateEntered" && st.ends[own]) edges.add(own + "\u0001\u0001n");
          } else if (t.slice(-7) === "Aborted") {
            v.aborted = true;
          } else if (t === "ExecutionSucceeded" && st.ends[own]) {
            edges.add(own + "\u0001\u0001n");
          }
        }
        owner[i] = null;
        ctx[i] = EMPTY;
        continue;
      }
      owner[i] = own;
      c = forced ? forced.ctx : own == null ? EMPTY : within(c, own);
      const iteration = t.slice(0, 12) === "MapIteration" && d.index != null;
      ctx[i] = iteration ? made(c.filter((q) => q[0] !== own).concat([[own, d.index]])) : c;
      if (own == null) {
        if (pe && (t === "ExecutionSucceeded" || FAILURE.test(t)) && pe.type.slice(-11) === "StateExited") edges.add(owner[p] + "\u0001\u0001n");
        continue;
      }
      const key = c.length ? own + "\u0001" + c.key : own;
      if (entered) {
        const v = { state: own, ctx: c, ctxKey: c.key, entered: i, exited: -1, events: [i], failures: [], retries: 0, retried: [],
          fail: st.type[own] === "Fail", ended: false,
          pending: -1, caught: -1, aborted: false, iterations: null, mapRuns: [], execution: -1 };
        state(own).visits.push(v);
        open.set(key, v);
        if (!pe || pe.type.slice(-11) !== "StateExited") edges.add("\u0001" + own + "\u0001n");
        else edges.add(owner[p] + "\u0001" + own + "\u0001" + (exitCaught.get(p) ? "c" : "n"));
        continue;
      }
      const v = open.get(key);
      if (!v) continue;
      v.events.push(i);
      if (exited) {
        v.exited = i;
        open.delete(key);
        if (v.pending >= 0) { v.caught = v.pending; exitCaught.set(i, true); }
        v.pending = -1;
      } else if (iteration) {
        if (!v.iterations) v.iterations = new Map();
        const status = t === "MapIterationStarted" ? "running" : t === "MapIterationSucceeded" ? "succeeded"
          : t === "MapIterationFailed" ? "failed" : "aborted";
        v.iterations.set(d.index, { index: d.index, status: status, event: i });
      } else if (FAILURE.test(t)) {
        if (ENDS.test(t)) v.ended = true;
        v.failures.push(i);
        if (v.pending < 0) v.pending = i;
        if (pe && pe.type.slice(-12) === "StateEntered" && st.ends[own]) edges.add(own + "\u0001\u0001n");
      } else if (t.slice(-7) === "Aborted") {
        v.aborted = true;
      } else {
        if (v.pending >= 0) { v.retries++; v.retried.push(v.pending); v.pending = -1; v.ended = false; }
        if (ENDS.test(t)) v.ended = true;
        if (t === "MapRunStarted" || t === "MapRunRedriven") { v.mapRuns.push(d.mapRunArn); mapRuns.push({ state: own, arn: d.mapRunArn, event: i }); }
        if ((t === "TaskSubmitted" || t === "TaskSucceeded") && typeof d.output === "string" && d.output.indexOf("ExecutionArn") >= 0) {
          const m = /"ExecutionArn"\s*:\s*"(arn:[^"]+)"/.exec(d.output);
          if (m && nested.indexOf(m[1]) < 0) nested.push(m[1]);
          if (m) v.child = m[1];
        }
        if (t === "ExecutionSucceeded" && st.ends[own]) edges.add(own + "\u0001\u0001n");
      }
    }
    // the end of a block: a state that exited and ended its branch
    for (let i = 0; i < n; i++) {
      const p = prevIdx[i];
      if (p >= 0 && events[p].type.slice(-11) === "StateExited" && events[i].type.slice(-12) !== "StateEntered" && st.ends[owner[p]]) {
        edges.add(owner[p] + "\u0001\u0001n");
      }
    }
    const an = { structure: st, events: events, owner: owner, ctx: ctx, ctxKey: ctxKey, prevIdx: prevIdx, states: states,
      edges: edges, mapRuns: mapRuns, nested: nested, running: running, status: executionStatus, focus: null };
    return an;
  }

  function visitStatus(v, running) {
    if (v.exited >= 0) return v.caught >= 0 ? "caught" : "succeeded";
    if (v.pending >= 0 || v.fail) return "failed";  // a Fail state entered has failed
    if (v.aborted) return "aborted";
    if (running) return "running";
    return v.failures.length ? "failed" : "aborted";
  }

  /** The visits of a state that count under the Map iteration in focus (all of them when none is). */
  function visitsOf(an, name) {
    const s = an.states[name];
    if (!s) return [];
    const f = an.focus;
    if (!f || (an.structure.ancestors[name] || []).indexOf(f.map) < 0) return s.visits;
    return s.visits.filter((v) => v.ctx.some((q) => q[0] === f.map && q[1] === f.index));
  }

  function stateStatus(an, name) {
    const visits = visitsOf(an, name);
    if (!visits.length) return { status: "notreached", retried: false, visits: visits };
    let best = 4, retried = false;
    for (const v of visits) {
      const k = STATUS_ORDER.indexOf(visitStatus(v, an.running));
      if (k < best) best = k;
      if (v.retries) retried = true;
    }
    return { status: STATUS_ORDER[best], retried: retried, visits: visits };
  }

  /** The variables a visit saw when it entered: the assignments on its way back to the start, in its scopes. */
  function variablesAt(an, v) {
    const st = an.structure, events = an.events;
    const allowed = new Set([null].concat(st.ancestors[v.state] || []));
    const vars = Object.create(null);
    let found = false;
    for (let i = an.prevIdx[v.entered]; i >= 0; i = an.prevIdx[i]) {
      const ev = events[i], t = ev.type;
      if (t.slice(-11) === "StateExited") {
        const d = detailsOf(ev) || {};
        const scope = st.parent[d.name] != null ? st.parent[d.name] : null;
        if (d.assignedVariables && allowed.has(scope)) {
          for (const k in d.assignedVariables) if (!(k in vars)) { vars[k] = d.assignedVariables[k]; found = true; }
        }
      } else if (t === "MapIterationStarted" || t === "ParallelStateStarted") {
        allowed.delete(an.owner[i]);
      }
    }
    if (!found) return null;
    const out = {};
    for (const k of Object.keys(vars).sort()) { try { out[k] = JSON.parse(vars[k]); } catch (e) { out[k] = vars[k]; } }
    return out;
  }

  // ---------------------------------------------------------------------------------------------- graph
  class Graph {
    constructor(svgText, onSelect) {
      this.box = h("div", { class: "graph fit" });
      this.box.innerHTML = svgText;
      this.svg = this.box.querySelector("svg");
      this.nodes = new Map();
      for (const el of this.box.querySelectorAll("[data-state]")) {
        const name = el.getAttribute("data-state");
        if (!this.nodes.has(name)) this.nodes.set(name, []);
        this.nodes.get(name).push(el);
      }
      this.edges = Array.from(this.box.querySelectorAll(".edge"));
      if (onSelect) {
        this.box.addEventListener("click", (e) => {
          const el = e.target.closest && e.target.closest("[data-state]");
          if (el) onSelect(el.getAttribute("data-state"));
        });
      }
    }
    tools() {
      const fit = h("button", { type: "button", title: "Fit the graph to the panel, or show it at its size" }, "Actual size");
      fit.addEventListener("click", () => {
        const on = this.box.classList.toggle("fit");
        fit.textContent = on ? "Actual size" : "Fit";
      });
      return fit;
    }
    colour(an) {
      const classes = ["status-succeeded", "status-failed", "status-caught", "status-retried", "status-running",
        "status-notreached", "status-aborted"];
      for (const [name, els] of this.nodes) {
        const s = stateStatus(an, name);
        for (const el of els) {
          el.classList.remove.apply(el.classList, classes);
          el.classList.add("status-" + s.status);
          if (s.retried) el.classList.add("status-retried");
        }
      }
      // the graph draws one edge for a pair of states a Next and a Catch (or two rules) both join: taken when
      // either way was; where a pair has an edge of each kind, each is taken by its own way
      const pairs = new Map();
      for (const el of this.edges) {
        const pair = (el.getAttribute("data-from") || "") + "\u0001" + (el.getAttribute("data-to") || "");
        pairs.set(pair, (pairs.get(pair) || 0) + 1);
      }
      for (const el of this.edges) {
        const pair = (el.getAttribute("data-from") || "") + "\u0001" + (el.getAttribute("data-to") || "");
        const taken = pairs.get(pair) > 1 ? an.edges.has(pair + "\u0001" + (el.classList.contains("kind-catch") ? "c" : "n"))
          : an.edges.has(pair + "\u0001n") || an.edges.has(pair + "\u0001c");
        el.classList.toggle("edge-taken", taken);
      }
    }
    select(name) {
      for (const el of this.box.querySelectorAll(".selected")) el.classList.remove("selected");
      for (const el of this.nodes.get(name) || []) el.classList.add("selected");
    }
  }

  function legend() {
    return h("div", { class: "legend" }, ["succeeded", "caught", "retried", "failed", "running", "aborted", "notreached"]
      .map((s) => badge(s, s === "notreached" ? "not reached" : s)));
  }

  // ---------------------------------------------------------------------------------------------- history table
  const PAGE_ROWS = 500;

  class HistoryTable {
    constructor(source) {
      this.source = source;
      this.page = 0;
      this.text = "";
      this.stateFilter = null;
      this.opened = new Set();
      this.root = h("div", { class: "panel", id: "history" });
    }
    update(an) {
      this.an = an;
      this.render();
    }
    filterState(name) { this.stateFilter = name; this.page = 0; this.render(); this.root.scrollIntoView({ behavior: "smooth" }); }
    rows() {
      const an = this.an, events = an.events, out = [];
      const text = this.text.toLowerCase(), want = this.stateFilter;
      for (let i = 0; i < events.length; i++) {
        if (want != null && an.owner[i] !== want) continue;
        if (text) {
          const hay = (events[i].type + " " + (an.owner[i] || "") + " " + an.ctx[i].key + " " + events[i].id).toLowerCase();
          if (hay.indexOf(text) < 0) continue;
        }
        out.push(i);
      }
      return out;
    }
    render() {
      const an = this.an, events = an.events;
      const root = clear(this.root);
      const rows = this.rows();
      const search = h("input", { type: "search", placeholder: "Filter: event type, state, iteration (M[1]) or id", value: this.text, size: 32 });
      search.addEventListener("input", () => {
        this.text = search.value;
        this.page = 0;
        const pos = search.selectionStart;
        this.render();
        const again = this.root.querySelector("input[type=search]");
        again.focus();
        again.setSelectionRange(pos, pos);
      });
      const tools = h("div", { class: "table-tools" }, [h("h2", null, "History"), search,
        this.stateFilter != null ? h("span", { class: "focus-note" }, ["Events of ", h("b", null, this.stateFilter), " ",
          h("button", { type: "button", onclick: () => { this.stateFilter = null; this.render(); } }, "Show all")]) : null,
        h("span", { class: "count" }, rows.length === events.length ? events.length.toLocaleString() + " events"
          : rows.length.toLocaleString() + " of " + events.length.toLocaleString() + " events")]);
      const body = h("tbody");
      const start = events.length ? events[0].timestamp : 0;
      // a page of rows at a time: a table of 25,000 rows took the browser seconds to lay out
      const pages = Math.max(1, Math.ceil(rows.length / PAGE_ROWS));
      this.page = Math.min(this.page, pages - 1);
      const first = this.page * PAGE_ROWS, limit = Math.min(rows.length, first + PAGE_ROWS);
      // one HTML text for all rows: 25,000 rows made as elements one by one took seconds
      const parts = [];
      for (let r = first; r < limit; r++) {
        const i = rows[r], ev = events[i];
        const own = an.owner[i];
        const cls = FAILURE.test(ev.type) ? "fail" : /Succeeded$/.test(ev.type) ? "ok" : /Aborted$/.test(ev.type) ? "warn" : "";
        parts.push('<tr class="event ' + cls + (this.opened.has(ev.id) ? " open" : "") + '" data-id="' + Number(ev.id) + '"><td class="num">' +
          Number(ev.id) + '</td><td class="type">' + esc(ev.type) + "</td><td>" +
          (own == null ? "" : esc(own) + (an.ctx[i].length ? '<span class="muted"> · ' + esc(an.ctx[i].key) + "</span>" : "")) +
          '</td><td class="num">+' + esc(fmtDuration(ev.timestamp - start)) + '</td><td class="num">' + esc(fmtTime(ev.timestamp)) + "</td></tr>");
      }
      body.innerHTML = parts.join("");
      for (const id of this.opened) {
        const tr = body.querySelector('tr[data-id="' + Number(id) + '"]');
        if (tr) tr.after(this.detailRow(events[this.indexOf(id)]));
      }
      body.addEventListener("click", (e) => {
        const tr = e.target.closest("tr.event");
        if (!tr || e.target.closest("a")) return;
        const id = Number(tr.getAttribute("data-id"));
        if (this.opened.has(id)) {
          this.opened.delete(id);
          tr.classList.remove("open");
          if (tr.nextSibling && tr.nextSibling.classList.contains("detail")) tr.nextSibling.remove();
        } else {
          this.opened.add(id);
          tr.classList.add("open");
          tr.after(this.detailRow(events[this.indexOf(id)]));
        }
      });
      const table = h("table", { class: "grid history" }, [
        h("thead", null, h("tr", null, [h("th", { class: "num" }, "ID"), h("th", null, "Type"), h("th", null, "State"),
          h("th", { class: "num" }, "Elapsed"), h("th", { class: "num" }, "Time")])), body]);
      add(root, [tools, table]);
      if (pages > 1) {
        const go = (n) => () => { this.page = n; this.render(); this.root.scrollIntoView(); };
        const button = (label, n, name) => h("button", { type: "button", name: name, disabled: n === this.page || n < 0 || n >= pages, onclick: go(n) }, label);
        const jump = h("input", { type: "number", min: 1, max: pages, value: this.page + 1, name: "page", style: "width:6em" });
        jump.addEventListener("change", () => { const n = Math.round(Number(jump.value)) - 1; if (n >= 0 && n < pages && n !== this.page) go(n)(); });
        add(root, h("div", { class: "more pager" }, [button("« First", 0, "first"), button("‹ Previous", this.page - 1, "previous"),
          h("span", null, ["Page ", jump, " of " + pages.toLocaleString()]),
          button("Next ›", this.page + 1, "next"), button("Last »", pages - 1, "last"),
          h("span", { class: "muted" }, "rows " + (first + 1).toLocaleString() + "–" + limit.toLocaleString() + " of " + rows.length.toLocaleString())]));
      }
    }
    indexOf(id) {
      const events = this.an.events;
      if (events[id - 1] && events[id - 1].id === id) return id - 1;
      return events.findIndex((e) => e.id === id);
    }
    detailRow(ev) {
      const d = detailsOf(ev);
      const shown = {};
      if (d) {
        for (const k in d) {
          const v = d[k];
          if (typeof v === "string" && (k === "input" || k === "output" || k === "parameters" || k === "result" || k === "cause")) {
            try { shown[k] = JSON.parse(v); continue; } catch (e) { /* plain text */ }
          }
          shown[k] = v;
        }
      }
      const extra = [];
      const child = d && typeof d.output === "string" && /"ExecutionArn"\s*:\s*"(arn:[^"]+)"/.exec(d.output);
      if (child) extra.push(h("p", null, ["Started execution: ", link(this.source.href("execution", child[1]), child[1])]));
      if (d && d.mapRunArn) extra.push(h("p", null, ["Map Run: ", mapRunAnchor(d.mapRunArn, d.mapRunArn)]));
      return h("tr", { class: "detail" }, h("td", { colspan: 5 }, [h("div", { class: "muted" },
        "previous event " + ev.previousEventId), extra, h("pre", null, d ? JSON.stringify(shown, null, 2) : "(no details)")]));
    }
  }

  // ---------------------------------------------------------------------------------------------- views
  function topBar(source, crumbs) {
    return h("header", { class: "top" }, [h("a", { class: "brand", href: source.href("list") || "#/" }, "asl console"),
      h("span", { class: "crumbs" }, crumbs), h("span", { class: "where" }, source.where)]);
  }

  /** A table of executions. ``suites`` (a test report): the rows are grouped under their suite's name, which
   * says how many of its tests passed (suites: suite name → [passed, total]). */
  function executionsTable(source, items, showMachine, suites) {
    const tests = items.some((e) => e.verdict);
    const columns = 5 + (tests ? 1 : 0) + (showMachine ? 1 : 0);
    const rows = [];
    let suite;
    for (const e of items) {
      if (suites && e.suite !== suite) {
        suite = e.suite;
        const [passed, total] = suites[suite] || [0, 0];
        rows.push(h("tr", { class: "suite-row" }, h("th", { colspan: columns }, [suite || "(no suite)",
          h("span", { class: "muted" }, " · " + passed + " of " + total + " passed")])));
      }
      rows.push(executionRow(source, e, showMachine, tests, !!suites));
    }
    const body = h("tbody", null, rows);
    return h("table", { class: "grid executions" }, [h("thead", null, h("tr", null, [h("th", null, "Name"), tests ? h("th", null, "Test") : null, h("th", null, "Status"),
      showMachine ? h("th", null, "State machine") : null, h("th", { class: "num" }, "Started"), h("th", { class: "num" }, "Ended"),
      h("th", { class: "num" }, "Duration")])), body]);
  }

  function executionRow(source, e, showMachine, tests, grouped) {
    return h("tr", { class: grouped ? "test-row" : null, "data-verdict": e.verdict || null }, [
      h("td", null, link(source.href("execution", e.executionArn), grouped && e.test ? e.test : e.name)),
      tests ? h("td", null, e.verdict ? badge(e.verdict === "passed" ? "SUCCEEDED" : "FAILED", e.verdict) : "") : null,
      h("td", null, badge(e.status)),
      showMachine ? h("td", null, link(source.href("machine", e.stateMachineArn), (e.stateMachineArn || "").split(":").slice(6).join(":"))) : null,
      h("td", { class: "num" }, fmtTime(e.startDate)),
      h("td", { class: "num" }, fmtTime(e.stopDate)),
      h("td", { class: "num" }, e.stopDate ? fmtDuration(e.stopDate - e.startDate) : ""),
    ]);
  }

  function pager(source, kind, arn, query, page, total, size) {
    const pages = Math.max(1, Math.ceil(total / size));
    const q = (p) => {
      const params = new URLSearchParams();
      for (const k in query) if (k !== "page" && query[k] !== "" && query[k] != null) params.set(k, query[k]);
      if (p > 1) params.set("page", p);
      return params.toString();
    };
    return h("div", { class: "pager" }, [
      page > 1 ? h("a", { href: source.href(kind, arn, q(page - 1)), rel: "prev" }, "‹ Newer") : h("span", { class: "muted" }, "‹ Newer"),
      h("span", null, "Page " + page + " of " + pages),
      page < pages ? h("a", { href: source.href(kind, arn, q(page + 1)), rel: "next" }, "Older ›") : h("span", { class: "muted" }, "Older ›"),
    ]);
  }

  const PAGE_SIZE = 50;
  const STATUSES = ["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"];

  async function listView(app, source, query) {
    clear(app).append(topBar(source, "State machines and executions"), h("main", null, h("p", { class: "loading" }, "Loading…")));
    const main = app.querySelector("main");
    const machines = await source.machines();
    machines.sort((a, b) => a.name.localeCompare(b.name));
    const chosen = query.stateMachine ? machines.filter((m) => m.stateMachineArn === query.stateMachine) : machines;
    const lists = await Promise.all((query.stateMachine && !chosen.length ? [{ stateMachineArn: query.stateMachine }] : chosen)
      .map((m) => source.executions(m.stateMachineArn, query.status)));
    let items = [].concat.apply([], lists);
    if (!source.live && !machines.length) items = await source.executions(query.stateMachine, query.status);
    // a test report (its items carry verdicts): a summary, a filter by verdict, and the tests in suite order,
    // grouped by suite (not by start time)
    const everyTest = !source.live ? (await source.executions()).filter((e) => e.verdict) : [];
    const tests = everyTest.length > 0;
    let suites = null;
    if (tests) {
      suites = {};
      for (const e of everyTest) {
        const c = suites[e.suite] || (suites[e.suite] = [0, 0]);
        c[1]++;
        if (e.verdict === "passed") c[0]++;
      }
      if (query.verdict) items = items.filter((e) => e.verdict === query.verdict);
    }
    if (query.name) {
      const needle = query.name.toLowerCase();
      items = items.filter((e) => e.name.toLowerCase().indexOf(needle) >= 0);
    }
    if (!tests) items.sort((a, b) => (b.startDate || 0) - (a.startDate || 0));
    const page = Math.min(query.page || 1, Math.max(1, Math.ceil(items.length / PAGE_SIZE)));
    clear(main);
    const form = h("form", { class: "filters", method: "get", action: source.live ? "/" : "#" }, [
      machines.length ? h("label", null, ["State machine", h("select", { name: "stateMachine" }, [h("option", { value: "" }, "(all)")]
        .concat(machines.map((m) => h("option", { value: m.stateMachineArn, selected: m.stateMachineArn === query.stateMachine }, m.name))))]) : null,
      h("label", null, ["Status", h("select", { name: "status" }, [h("option", { value: "" }, "(any)")]
        .concat(STATUSES.map((s) => h("option", { value: s, selected: s === query.status }, s))))]),
      tests ? h("label", null, ["Verdict", h("select", { name: "verdict" }, [h("option", { value: "" }, "(any)")]
        .concat(["passed", "failed"].map((s) => h("option", { value: s, selected: s === query.verdict }, s))))]) : null,
      h("label", null, ["Name contains", h("input", { name: "name", value: query.name || "", maxlength: 80, size: 24 })]),
      h("button", { type: "submit", class: "primary" }, "Filter"),
    ]);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const params = new URLSearchParams();
      for (const [k, v] of new FormData(form)) if (v) params.set(k, v);
      source.navigate("list", null, params.toString());
    });
    if (machines.length) {
      add(main, h("section", { class: "panel" }, [h("h2", null, "State machines (" + machines.length + ")"),
        h("table", { class: "grid machines" }, [h("thead", null, h("tr", null, [h("th", null, "Name"), h("th", null, "Type"), h("th", { class: "num" }, "Created")])),
          h("tbody", null, machines.map((m) => h("tr", null, [h("td", null, link(source.href("machine", m.stateMachineArn), m.name)),
            h("td", null, m.type || ""), h("td", { class: "num" }, fmtTime(m.creationDate))])))])]));
    }
    if (tests) {
      const passed = everyTest.filter((e) => e.verdict === "passed").length;
      add(main, h("p", { class: "test-summary" }, [badge(passed === everyTest.length ? "SUCCEEDED" : "FAILED",
        passed === everyTest.length ? "all passed" : (everyTest.length - passed) + " failed"),
      " " + passed + " of " + everyTest.length + " test" + (everyTest.length === 1 ? "" : "s") + " passed",
      " in " + Object.keys(suites).length + " suite" + (Object.keys(suites).length === 1 ? "" : "s")]));
    }
    add(main, h("section", { class: "panel" }, [h("h2", null, tests ? "Tests" : "Executions"), form,
      items.length ? executionsTable(source, items.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE), !tests, suites)
        : h("p", { class: "muted empty" }, (tests ? "No tests" : "No executions") +
          (query.status || query.name || query.stateMachine || query.verdict ? " match these filters." : " yet.")),
      items.length > PAGE_SIZE ? pager(source, "list", null, query, page, items.length, PAGE_SIZE) : null]));
  }

  async function machineView(app, source, arn, query) {
    const sm = await source.machine(arn);
    clear(app).append(topBar(source, [link(source.href("list"), "Home"), " / ", sm.name]));
    const main = h("main");
    app.append(main);
    let definition = {};
    try { definition = JSON.parse(sm.definition); } catch (e) { /* shown as text */ }
    add(main, [h("h1", null, [sm.name, h("span", { class: "badge s-notreached" }, sm.type)]),
      h("section", { class: "panel" }, h("div", { class: "summary-grid" }, [
        field("ARN", sm.stateMachineArn), field("Type", sm.type), field("Created", fmtTime(sm.creationDate)),
        field("Role", sm.roleArn), field("Revision", sm.revisionId)]))]);
    const graphPanel = h("section", { class: "panel graph-panel" }, [h("h2", null, "Graph"), h("p", { class: "loading" }, "Drawing…")]);
    add(main, [graphPanel, h("section", { class: "panel" }, block("Definition", JSON.stringify(definition, null, 2) === "{}" ? sm.definition : JSON.stringify(definition, null, 2), true))]);
    const executionsPanel = h("section", { class: "panel" }, [h("h2", null, "Executions"), h("p", { class: "loading" }, "Loading…")]);
    add(main, executionsPanel);
    const [svg, items] = await Promise.all([source.graph("machine", arn).catch((e) => e), source.executions(arn, query.status)]);
    clear(graphPanel).append(h("h2", null, "Graph"));
    if (svg instanceof Error) graphPanel.append(errorBox(svg));
    else { const g = new Graph(svg, null); graphPanel.append(h("div", { class: "graph-tools" }, g.tools()), g.box); }
    items.sort((a, b) => (b.startDate || 0) - (a.startDate || 0));
    const page = Math.min(query.page || 1, Math.max(1, Math.ceil(items.length / PAGE_SIZE)));
    const filter = h("form", { class: "filters", method: "get" }, [h("label", null, ["Status", h("select", { name: "status" },
      [h("option", { value: "" }, "(any)")].concat(STATUSES.map((s) => h("option", { value: s, selected: s === query.status }, s))))]),
      h("button", { type: "submit" }, "Filter")]);
    clear(executionsPanel).append(h("h2", null, "Executions (" + items.length + ")"), filter,
      items.length ? executionsTable(source, items.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE), false) : h("p", { class: "muted" }, "None."));
    if (items.length > PAGE_SIZE) executionsPanel.append(pager(source, "machine", arn, query, page, items.length, PAGE_SIZE));
  }

  function field(k, v) { return h("div", null, [h("div", { class: "k" }, k), h("div", { class: "v" }, v == null || v === "" ? "—" : v)]); }

  // ---------------------------------------------------------------------------------------------- execution view
  class ExecutionView {
    constructor(app, source, arn, query) {
      this.app = app; this.source = source; this.arn = arn; this.query = query;
      this.selected = query.state || null;
      this.visitChoice = null;
      this.timings = {};
    }

    /** The execution, its definition and graph first (drawn at once, uncoloured), then the whole history, which
     * a big execution takes a while to read; then the statuses. */
    async load() {
      const t0 = performance.now();
      const source = this.source, arn = this.arn;
      clear(this.app).append(topBar(source, [link(source.href("list"), "Home"), " / execution"]));
      const main = h("main", null, h("p", { class: "loading" }, "Loading the execution…"));
      this.app.append(main);
      this.read = 0;
      const history = source.history(arn, (n) => { this.read = n; this.showProgress(); });
      const mapRuns = source.mapRuns(arn).catch(() => []);
      history.catch(() => {});  // its failure is reported below, once the first part is drawn
      const [ex, svg] = await Promise.all([source.execution(arn), source.graph("execution", arn).catch((e) => e)]);
      this.describe = ex.describe;
      this.test = ex.test || null;
      try { this.definition = JSON.parse(ex.definition); } catch (e) { this.definition = {}; }
      this.definitionText = ex.definition;
      this.events = [];
      this.mapRunData = [];
      this.an = null;
      this.build(main, svg);
      const first = performance.now();
      [this.events, this.mapRunData] = await Promise.all([history, mapRuns]);
      const t1 = performance.now();
      this.an = analyze(this.definition, this.events, this.describe.status);
      const t2 = performance.now();
      this.refresh();
      const t3 = performance.now();
      this.timings = { firstPaint: first, data: t1 - t0, analyze: t2 - t1, render: t3 - t2, total: t3, events: this.events.length };
      // a link to one of its Map Runs (from a child's page): that Map Run's section
      const hash = location.hash.indexOf("#maprun-") === 0 ? decodeURIComponent(location.hash.slice(8)) : null;
      const wanted = this.query.maprun || hash;
      const target = wanted ? document.getElementById("maprun-" + enc(wanted)) : null;
      if (target) { target.classList.add("wanted"); target.scrollIntoView(); }
      if (this.describe.status === "RUNNING" && source.live) this.schedule();
    }

    showProgress() {
      const note = this.app.querySelector(".history-progress") || this.app.querySelector("main > .loading");
      if (note) note.textContent = "Loading the history… " + this.read.toLocaleString() + " events";
    }

    build(main, svg) {
      const source = this.source, d = this.describe;
      // a Map Run's child: its state machine (…:stateMachine:<parent>/<label>) has no page; the crumbs go to the
      // parent's state machine, the parent execution and its Map Run once DescribeMapRun answers
      this.crumbs = h("span", { class: "parent-crumbs" }, d.mapRunArn ? this.parentCrumbs(null)
        : link(source.href("machine", d.stateMachineArn), d.stateMachineArn.split(":").slice(6).join(":")));
      clear(this.app).append(topBar(source, [link(source.href("list"), "Home"), " / ", this.crumbs, " / ", d.name]));
      if (d.mapRunArn && !this.parentRun) {
        this.parentRun = source.describeMapRun(d.mapRunArn).catch(() => null);
        this.parentRun.then((run) => { if (run) clear(this.crumbs).append(...this.parentCrumbs(run)); });
      }
      clear(main);
      this.app.append(main);
      this.header = h("div");
      this.summary = h("section", { class: "panel" });
      add(main, [this.header, this.summary]);
      this.graphPanel = h("section", { class: "panel graph-panel" });
      this.statePanel = h("aside", { class: "panel state-panel" });
      add(main, h("div", { class: "exec-layout" }, [this.graphPanel, this.statePanel]));
      this.mapRunsPanel = h("div");
      add(main, this.mapRunsPanel);
      this.table = new HistoryTable(source);
      add(main, this.table.root);
      add(this.graphPanel, h("div", { class: "graph-tools" }, [h("h2", { style: "margin:0" }, "Graph")]));
      if (svg instanceof Error) {
        this.graph = null;
        this.graphPanel.append(errorBox(svg));
      } else {
        this.graph = new Graph(svg, (name) => this.select(name));
        this.graphPanel.firstChild.append(this.graph.tools(), legend());
        this.graphPanel.append(this.graph.box);
      }
      this.focusNote = h("div");
      this.graphPanel.insertBefore(this.focusNote, this.graph ? this.graph.box : null);
      this.refresh();
    }

    /** The crumbs of a Map Run's child: the parent's state machine, execution and Map Run (``run``: its
     * DescribeMapRun, null before it answers or when it cannot). */
    parentCrumbs(run) {
      const source = this.source, mapRunArn = this.describe.mapRunArn, machine = mapRunParentMachine(mapRunArn);
      const label = "Map Run " + mapRunArn.split(":").pop().slice(0, 8);
      const out = machine ? [link(source.href("machine", machine), machine.split(":").slice(6).join(":")), " / "] : [];
      if (!run) return out.concat([h("span", null, label)]);
      return out.concat([link(source.href("execution", run.executionArn), run.executionArn.split(":").pop()), " / ",
        link(source.mapRunHref(run.executionArn, mapRunArn), label, "map-run-link")]);
    }

    refresh() {
      this.renderHeader();
      this.renderSummary();
      if (!this.an) {  // the history is still on its way
        clear(this.statePanel).append(h("p", { class: "loading history-progress" }, "Loading the history…"));
        clear(this.table.root).append(h("h2", null, "History"), h("p", { class: "loading" }, "Loading…"));
        this.showProgress();
        return;
      }
      if (this.graph) this.graph.colour(this.an);
      this.renderFocus();
      this.table.update(this.an);
      this.renderMapRuns();
      if (this.selected && this.an.structure.type[this.selected] === undefined && !this.an.states[this.selected]) this.selected = null;
      this.renderState();
    }

    renderHeader() {
      const d = this.describe, source = this.source;
      const actions = h("span", { class: "actions" });
      if (source.canAct && d.status === "RUNNING") {
        actions.append(h("button", { type: "button", class: "danger", id: "stop", onclick: () => this.act("stop") }, "Stop execution"));
      }
      if (source.canAct && d.redriveStatus === "REDRIVABLE") {
        actions.append(h("button", { type: "button", id: "redrive", onclick: () => this.act("redrive") }, "Redrive"));
      }
      clear(this.header).append(h("h1", null, [d.name, h("span", { class: "badge s-" + d.status, id: "execution-status" }, d.status),
        d.status === "RUNNING" && source.live ? h("span", { class: "live" }, "● updating live") : null, actions]));
    }

    async act(what) {
      const label = what === "stop" ? "Stop this execution?" : "Redrive this execution from where it failed?";
      if (!window.confirm(label)) return;
      try {
        if (what === "stop") await this.source.stop(this.arn);
        else await this.source.redrive(this.arn);
      } catch (e) {
        this.header.append(errorBox(e));
        return;
      }
      await this.poll(true);
    }

    renderSummary() {
      const d = this.describe, source = this.source;
      const grid = h("div", { class: "summary-grid" }, [
        field("Execution ARN", d.executionArn),
        field("State machine", d.mapRunArn ? d.stateMachineArn : link(source.href("machine", d.stateMachineArn), d.stateMachineArn)),
        field("Started", fmtTime(d.startDate)),
        field("Ended", d.stopDate ? fmtTime(d.stopDate) : "—"),
        field("Duration", fmtDuration((d.stopDate || Date.now() / 1000) - d.startDate)),
        field("Events", this.an ? this.events.length.toLocaleString() : "…"),
        d.redriveCount ? field("Redriven", d.redriveCount + " time(s)") : null,
        d.mapRunArn ? field("Map Run", h("span", { class: "parent-link" }, d.mapRunArn)) : null,
        d.mapRunArn ? field("Parent execution", h("span", { class: "parent-execution" }, "…")) : null,
        d.stateMachineVersionArn ? field("Version", d.stateMachineVersionArn) : null,
        d.stateMachineAliasArn ? field("Alias", d.stateMachineAliasArn) : null,
      ]);
      const io = h("div", { class: "io" }, [block("Input", d.input, false), block("Output", d.output, false),
        d.error || d.cause ? h("div", null, [h("h3", null, "Error"), kv([["Error", d.error], ["Cause", d.cause ? h("pre", null, pretty(d.cause)) : null]])]) : null]);
      clear(this.summary).append(grid, io);
      if (this.test) {
        const t = this.test;
        this.summary.prepend(h("div", { class: "test-result" }, [h("h3", null, ["Test ", t.suite ? t.suite + " › " : "", t.name, " ",
          badge(t.passed ? "SUCCEEDED" : "FAILED", t.passed ? "passed" : "failed")]),
        t.failures && t.failures.length ? h("pre", { class: "failures" }, t.failures.join("\n\n")) : null]));
      }
      if (d.mapRunArn && this.parentRun) {
        this.parentRun.then((run) => {
          const el = this.summary.querySelector(".parent-link"), parent = this.summary.querySelector(".parent-execution");
          if (!run || !el || !parent) return;
          clear(el).append(link(this.source.mapRunHref(run.executionArn, d.mapRunArn), d.mapRunArn.split(":").pop(), "map-run-link"));
          clear(parent).append(link(this.source.href("execution", run.executionArn), run.executionArn, "parent-execution-link"));
        });
      }
    }

    renderFocus() {
      const f = this.an.focus;
      clear(this.focusNote);
      if (f) {
        this.focusNote.append(h("p", { class: "focus-note" }, ["Showing iteration " + f.index + " of the Map ", h("b", null, f.map), " ",
          h("button", { type: "button", onclick: () => this.setFocus(null) }, "All iterations")]));
      }
    }

    setFocus(focus) {
      this.an.focus = focus;
      this.visitChoice = null;
      if (this.graph) this.graph.colour(this.an);
      this.renderFocus();
      this.renderState();
    }

    select(name) {
      this.selected = name;
      this.visitChoice = null;
      if (this.source.live) {
        const url = new URL(location.href);
        url.searchParams.set("state", name);
        history.replaceState(null, "", url.toString());
      }
      this.renderState();
    }

    renderState() {
      const panel = clear(this.statePanel);
      if (this.graph) this.graph.select(this.selected);
      if (!this.an) {  // drawn once the history is in
        panel.append(h("p", { class: "loading history-progress" }, "Loading the history…"));
        this.showProgress();
        return;
      }
      const an = this.an, name = this.selected;
      if (!name) {
        add(panel, [h("h2", null, "States"), h("p", { class: "muted" }, "Click a state in the graph to see its input, output, variables and errors."),
          this.stateList()]);
        return;
      }
      const s = stateStatus(an, name);
      const type = an.structure.type[name] || (an.states[name] && an.states[name].type) || "";
      add(panel, h("div", { class: "title" }, [h("h2", { id: "state-name" }, name), h("span", { class: "badge s-notreached" }, type),
        badge(s.status, s.status === "notreached" ? "not reached" : s.status), s.retried ? badge("retried") : null,
        h("button", { type: "button", style: "margin-left:auto", onclick: () => { this.selected = null; this.renderState(); } }, "×")]));
      const visits = s.visits;
      if (!visits.length) {
        add(panel, h("p", { class: "muted" }, "This state was not entered" + (an.focus ? " in this iteration." : ".")));
        return;
      }
      let k = this.visitChoice != null && this.visitChoice < visits.length ? this.visitChoice : visits.length - 1;
      if (this.visitChoice == null) {
        const bad = visits.findIndex((v) => visitStatus(v, an.running) === "failed");
        if (bad >= 0) k = bad;
      }
      if (visits.length > 1) {
        const select = h("select", { id: "visit" }, visits.map((v, j) => h("option", { value: j, selected: j === k },
          "#" + (j + 1) + (v.ctxKey ? " · " + v.ctxKey : "") + " · " + visitStatus(v, an.running) + " · event " + an.events[v.entered].id)));
        select.addEventListener("change", () => { this.visitChoice = Number(select.value); this.renderState(); });
        add(panel, h("p", null, [visits.length.toLocaleString() + " visits: ", select]));
      }
      const v = visits[k];
      const ev = an.events, entered = ev[v.entered], exited = v.exited >= 0 ? ev[v.exited] : null;
      const din = detailsOf(entered) || {}, dout = exited ? detailsOf(exited) || {} : {};
      let resource = null;
      for (const i of v.events) {
        const d = detailsOf(ev[i]);
        if (d && d.resource) { resource = (d.resourceType ? d.resourceType + ":" : "") + d.resource; break; }
      }
      add(panel, kv([["Status", visitStatus(v, an.running)], ["Iteration", v.ctxKey || null], ["Entered", fmtTime(entered.timestamp) + " (event " + entered.id + ")"],
        ["Exited", exited ? fmtTime(exited.timestamp) + " (event " + exited.id + ")" : null],
        ["Duration", exited ? fmtDuration(exited.timestamp - entered.timestamp) : null],
        ["Resource", resource], ["Retries", v.retries ? String(v.retries) : null],
        ["Execution started", v.child ? link(this.source.href("execution", v.child), v.child) : null]]));
      // the errors its events carry (MapRunFailed and MapStateFailed may carry none: they are not listed); when
      // none does and the execution failed right after it, the execution's error
      let shown = 0;
      const errorOf = (i, what) => {
        const d = detailsOf(ev[i]) || {};
        if (!d.error && !d.cause) return;
        shown++;
        add(panel, h("div", { class: "state-error" }, [h("h3", null, what + " · " + ev[i].type + " · event " + ev[i].id),
          kv([["Error", d.error || null], ["Cause", d.cause ? h("pre", null, pretty(d.cause)) : null]])]));
      };
      for (const i of v.failures) errorOf(i, i === v.caught ? "Error (caught)" : v.retried.indexOf(i) >= 0 ? "Error (retried)" : "Error");
      if (!shown && v.execution >= 0) errorOf(v.execution, "The execution's error, after this state");
      add(panel, [block("Input", din.input, true), exited ? block("Output", dout.output, true) : null]);
      const vars = variablesAt(an, v);
      add(panel, block("Variables on entry", vars == null ? null : JSON.stringify(vars), !!vars));
      if (dout.assignedVariables && Object.keys(dout.assignedVariables).length) {
        const assigned = {};
        for (const key in dout.assignedVariables) { try { assigned[key] = JSON.parse(dout.assignedVariables[key]); } catch (e) { assigned[key] = dout.assignedVariables[key]; } }
        add(panel, block("Variables assigned", JSON.stringify(assigned), true));
      }
      if (v.iterations && v.iterations.size) add(panel, this.iterationButtons(name, v));
      if (v.mapRuns.length) {
        const runs = [];
        v.mapRuns.forEach((a, j) => runs.push(j ? ", " : null, mapRunAnchor(a, a.split(":").pop())));
        add(panel, h("p", null, ["Map Run: "].concat(runs)));
      }
      add(panel, h("p", null, h("button", { type: "button", onclick: () => this.table.filterState(name) }, "Show its events in the history")));
    }

    iterationButtons(name, v) {
      const box = h("div", { class: "iterations" });
      const items = Array.from(v.iterations.values()).sort((a, b) => a.index - b.index);
      const limit = 1000;
      for (const it of items.slice(0, limit)) {
        const on = this.an.focus && this.an.focus.map === name && this.an.focus.index === it.index;
        box.append(h("button", { type: "button", class: "s-" + it.status + (on ? " on" : ""), title: "Iteration " + it.index + ": " + it.status,
          onclick: () => this.setFocus(on ? null : { map: name, index: it.index }) }, String(it.index)));
      }
      const counts = {};
      for (const it of items) counts[it.status] = (counts[it.status] || 0) + 1;
      return h("div", null, [h("h3", null, "Iterations (" + items.length + "): " + Object.keys(counts).map((k) => counts[k] + " " + k).join(", ")),
        h("p", { class: "muted" }, "Click one to colour the graph by that iteration."), box,
        items.length > limit ? h("p", { class: "muted" }, "The first " + limit + " are shown.") : null]);
    }

    stateList() {
      const an = this.an, names = Object.keys(an.structure.type);
      const rows = names.map((name) => {
        const s = stateStatus(an, name);
        return h("tr", { class: "state-row", "data-state": name, style: "cursor:pointer", onclick: () => this.select(name) }, [
          h("td", null, name), h("td", null, [badge(s.status, s.status === "notreached" ? "not reached" : s.status),
            s.retried ? " " : null, s.retried ? badge("retried") : null]),
          h("td", { class: "num" }, String(s.visits.length))]);
      });
      return h("table", { class: "grid states" }, [h("thead", null, h("tr", null, [h("th", null, "State"), h("th", null, "Status"), h("th", { class: "num" }, "Visits")])),
        h("tbody", null, rows.slice(0, 600))]);
    }

    renderMapRuns() {
      const panel = clear(this.mapRunsPanel), runs = this.mapRunData || [];
      if (!runs.length) return;
      const section = h("section", { class: "panel", id: "map-runs" }, h("h2", null, "Map Runs (" + runs.length + ")"));
      for (const run of runs) {
        const d = run.describe, counts = d.executionCounts || {};
        const state = (this.an.mapRuns.find((m) => m.arn === d.mapRunArn) || {}).state;
        const children = (run.children || []).slice().sort((a, b) => (a.name < b.name ? -1 : 1));
        add(section, h("div", { id: "maprun-" + enc(d.mapRunArn), class: "map-run" }, [
          h("h3", null, [state ? state + " · " : "", d.mapRunArn.split(":").pop(), " ", badge(d.status)]),
          h("div", { class: "counts" }, ["total", "succeeded", "failed", "running", "pending", "aborted", "timedOut"]
            .filter((k) => counts[k]).map((k) => h("span", null, k + ": " + counts[k]))),
          children.length ? executionsTable(this.source, children.slice(0, 200), false) : h("p", { class: "muted" }, "No child executions recorded."),
          children.length > 200 ? h("p", { class: "muted" }, "The first 200 of " + children.length + " children are shown.") : null,
        ]));
      }
      panel.append(section);
    }

    schedule() { clearTimeout(this.timer); this.timer = setTimeout(() => this.poll(false), 1000); }

    /** One poll at a time (a click on Stop may come while the timer's poll runs): each waits for the one before. */
    poll(force) {
      clearTimeout(this.timer);
      this.polling = (this.polling || Promise.resolve()).then(() => this.pollOnce(force));
      return this.polling;
    }

    async pollOnce(force) {
      if (!this.an) return;  // still loading: the load shows the latest
      try {
        const before = this.describe.status;
        const ex = await this.source.execution(this.arn);
        const last = this.events.length ? this.events[this.events.length - 1].id : 0;
        const fresh = await this.source.newEvents(this.arn, last);
        this.describe = ex.describe;
        if (fresh.length) this.events = this.events.concat(fresh);
        if (fresh.length || ex.describe.status !== before || force) {
          const focus = this.an.focus;
          this.an = analyze(this.definition, this.events, this.describe.status);
          this.an.focus = focus;
          this.mapRunData = await this.source.mapRuns(this.arn).catch(() => this.mapRunData);
          this.refresh();
        }
      } catch (e) {
        /* the server may be restarting: try again at the next tick */
      }
      if (this.describe.status === "RUNNING") this.schedule();
    }
  }

  // ---------------------------------------------------------------------------------------------- start
  function readJson(id) {
    const el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function route(config, source) {
    if (config.source === "embedded" && location.hash.length > 1) {
      const hash = location.hash.slice(1);
      const [path, q] = hash.split("?");
      const query = {};
      new URLSearchParams(q || "").forEach((v, k) => { query[k] = k === "page" ? Number(v) : v; });
      if (path.indexOf("/executions/") === 0) return { view: "execution", arn: decodeURIComponent(path.slice(12)), query: query };
      if (path === "/") return { view: "list", query: query };
    }
    return { view: config.view, arn: config.arn, query: config.query || {} };
  }

  async function start() {
    const app = document.getElementById("app");
    const config = readJson("asl-config") || { source: "api", view: "list" };
    const source = config.source === "embedded" ? new EmbeddedSource(readJson("asl-data") || {}) : new ApiSource();
    const state = window.aslConsole = { ready: false, timings: null, view: null };
    async function show() {
      const r = route(config, source);
      state.ready = false;
      document.documentElement.removeAttribute("data-ready");
      try {
        if (r.view === "execution") {
          const view = new ExecutionView(app, source, r.arn, r.query);
          state.view = view;
          await view.load();
          state.timings = view.timings;
        } else if (r.view === "stateMachine") {
          await machineView(app, source, r.arn, r.query);
        } else {
          await listView(app, source, r.query);
        }
      } catch (e) {
        clear(app).append(topBar(source, "error"), h("main", null, errorBox(e)));
      }
      state.ready = true;
      document.documentElement.setAttribute("data-ready", "true");
    }
    if (config.source === "embedded") window.addEventListener("hashchange", show);
    await show();
  }

  window.aslRender = { analyze: analyze, stateStatus: stateStatus, variablesAt: variablesAt };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
