"""The report's PDF: the report template rendered by WeasyPrint, with no network access.

Everything the PDF shows travels inside the HTML: the stylesheet is inlined, the duct diagram is
inline SVG, the MIP image a `data:` URI, and the fonts (DejaVu) come from the system through
fontconfig. `LocalOnlyFetcher` refuses every URL that is not a `data:` URI or a file under the
project's static folders, so a stray link in the template can never make the worker fetch
anything over the network.
"""

from __future__ import annotations

import base64
import logging
from pathlib import Path

from django.conf import settings
from django.template.loader import render_to_string
from weasyprint import HTML
from weasyprint.urls import URLFetcher

log = logging.getLogger(__name__)

TEMPLATE = "reports/report.html"


class RefusedURL(ValueError):
    pass


class LocalOnlyFetcher(URLFetcher):
    """Fetches `data:` URIs and files under the static folders; refuses everything else."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, allowed_protocols=("data", "file"), allow_redirects=False, **kwargs)
        self.refused: list[str] = []
        roots = [Path(p).resolve() for p in getattr(settings, "STATICFILES_DIRS", [])]
        self._roots = roots

    def fetch(self, url, headers=None):
        if url.startswith("data:"):
            return super().fetch(url, headers)
        if url.startswith("file:"):
            from urllib.request import url2pathname

            path = Path(url2pathname(url.split("?")[0].removeprefix("file:"))).resolve()
            if any(path.is_relative_to(root) for root in self._roots):
                return super().fetch(url, headers)
        self.refused.append(url)
        log.warning("report PDF: refused to fetch %s", url[:200])
        raise RefusedURL(f"refused: the report PDF loads nothing from outside ({url[:80]})")


def data_uri(data: bytes, media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


def report_html(content: dict, *, mip_png: bytes | None = None) -> str:
    """The report template as a standalone print document for the given content."""
    return render_to_string(
        TEMPLATE,
        {
            "layout": "reports/print_base.html",
            "c": content,
            "pdf": True,
            "mip_src": data_uri(mip_png, "image/png") if mip_png else "",
        },
    )


def html_to_pdf(html: str, *, fetcher: LocalOnlyFetcher | None = None) -> bytes:
    fetcher = fetcher or LocalOnlyFetcher()
    return HTML(string=html, base_url=None, url_fetcher=fetcher).write_pdf()


def render_report_pdf(content: dict, *, mip_png: bytes | None = None) -> bytes:
    return html_to_pdf(report_html(content, mip_png=mip_png))
