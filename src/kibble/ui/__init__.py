"""The web dashboard: server-rendered pages, charts drawn in the browser with Plotly
(served from the installed Python package, never a CDN), tables when there is no data."""

from kibble.ui.app import create_ui

__all__ = ["create_ui"]
