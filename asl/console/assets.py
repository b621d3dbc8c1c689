"""The console's static files (``asl/console/static/``: one stylesheet, one script) and the HTML page that holds
them, served by ``asl serve`` or inlined into a self-contained report.

Every page is the same small document: a ``<script type="application/json" id="asl-config">`` block saying which
view to show (the list, a state machine, an execution) and, in a report, an ``asl-data`` block with the data
itself. The script renders the view from data it gets from a *source*: the Step Functions API (``POST /``, as the
AWS CLI calls it) in the console, the embedded block in a report. Nothing is fetched from the network either way.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from html import escape
from importlib import resources
from typing import Any

CONTENT_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
                 ".svg": "image/svg+xml; charset=utf-8", ".png": "image/png"}
SCRIPT = "console.js"
STYLESHEET = "console.css"


@dataclass(frozen=True)
class Asset:
    """A static file: its bytes, content type and ETag (a hash of the bytes, so it changes with them)."""

    name: str
    body: bytes
    content_type: str

    @functools.cached_property
    def version(self) -> str:
        """A short hash of the content: ``?v=<version>`` in a page's links makes the URL change with the file."""
        return hashlib.sha256(self.body).hexdigest()[:16]

    @property
    def etag(self) -> str:
        return f'"{self.version}"'


@functools.cache
def asset(name: str) -> Asset | None:
    """The static file ``name`` (no folders), or None when the package has no such file."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    suffix = name[name.rfind("."):] if "." in name else ""
    if suffix not in CONTENT_TYPES:
        return None
    try:
        body = (resources.files("asl.console") / "static" / name).read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    return Asset(name, body, CONTENT_TYPES[suffix])


def _required(name: str) -> Asset:
    found = asset(name)
    if found is None:  # a broken installation: the package data is missing
        raise RuntimeError(f"the console's {name} is missing from the asl package (asl/console/static/{name})")
    return found


def json_script(element_id: str, value: Any) -> str:
    """A ``<script type="application/json">`` block holding ``value``; ``<`` is escaped so no text in the data can
    end the block (or open a comment) early."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def page(title: str, config: dict[str, Any], data: Any = None, inline: bool = False) -> str:
    """The HTML document of a view. ``inline``: the stylesheet, the script and ``data`` inside the page (a report
    that opens from ``file://`` with no server); otherwise they are linked from ``/static/`` (the console)."""
    css, js = _required(STYLESHEET), _required(SCRIPT)
    if inline:
        style = f"<style>{css.body.decode()}</style>"
        # a script's text may not hold "</script"; the file is ours and has none, but be sure
        code = js.body.decode().replace("</script", "<\\/script")
        script = f"<script>{code}</script>"
    else:
        style = f'<link rel="stylesheet" href="/static/{css.name}?v={css.version}">'
        script = f'<script src="/static/{js.name}?v={js.version}" defer></script>'
    blocks = json_script("asl-config", config) + (json_script("asl-data", data) if data is not None else "")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(title)}</title><link rel=\"icon\" href=\"data:,\">{style}</head>\n"
            f"<body><div id=\"app\"><p class=\"loading\">Loading…</p>"
            "<noscript><p class=\"error\">This page needs JavaScript to show its data.</p></noscript></div>\n"
            f"{blocks}\n{script}</body></html>\n")


def message_page(status: int, title: str, message: str) -> str:
    """A plain page for an error (a 404 for an unknown ARN, a 400 for a bad parameter): no script needed."""
    css = _required(STYLESHEET)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{status} {escape(title)}</title><link rel=\"icon\" href=\"data:,\">"
            f"<link rel=\"stylesheet\" href=\"/static/{css.name}?v={css.version}\"></head>\n"
            "<body><div id=\"app\"><header class=\"top\"><a class=\"brand\" href=\"/\">asl console</a></header>"
            f"<main><h1>{escape(title)}</h1><p class=\"error-message\">{escape(message)}</p>"
            "<p><a href=\"/\">Back to the list of state machines and executions</a></p></main></div></body></html>\n")


__all__ = ["Asset", "asset", "json_script", "message_page", "page"]
