"""Console pages: simulator (being written)."""

from __future__ import annotations

from ..web import Route

NAV: list[tuple[str, str]] = []
ROUTES: list[Route] = []
