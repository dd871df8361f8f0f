"""Swagger UI and ReDoc for /api/schema/, from drf-spectacular-sidecar's vendored builds.

drf-spectacular's stock pages carry inline scripts and styles (and ReDoc's loads Google Fonts);
these templates keep every script in a static file so the site-wide CSP applies unchanged.
"""

from __future__ import annotations

from csp.decorators import csp_update
from django.utils.decorators import method_decorator
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView

# Both UIs set element styles from JavaScript by injecting <style> elements (React / styled-
# components), which a strict style-src refuses. Scripts stay 'self'-only: the relaxation lets a
# page restyle itself, not run anything.
DOCS_STYLE_POLICY = {"style-src": ["'unsafe-inline'"]}
# ReDoc builds its search index in a worker made from a blob of its own bundle.
REDOC_POLICY = {**DOCS_STYLE_POLICY, "worker-src": ["'self'", "blob:"]}


@method_decorator(csp_update(DOCS_STYLE_POLICY), name="get")
class ApiSwaggerView(SpectacularSwaggerSplitView):
    template_name = "api/swagger_ui.html"
    title = "chatsite API"


@method_decorator(csp_update(REDOC_POLICY), name="get")
class ApiRedocView(SpectacularRedocView):
    template_name = "api/redoc.html"
    title = "chatsite API"
