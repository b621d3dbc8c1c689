"""The web console of ``asl serve`` and the self-contained execution reports of ``asl run --report`` and
``asl test --report``: one page, one stylesheet and one script (``static/``) for both, the console reading its data
through the Step Functions API, a report carrying its data inside the page."""

from __future__ import annotations

from .web import Response, handle

__all__ = ["Response", "handle"]
