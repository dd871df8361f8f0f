"""PDF documents as the API reads them: every page as text and as an image."""

from __future__ import annotations

import io

from pypdf import PdfReader
from pypdf.errors import PyPdfError

from conversations.llm.simulator.wire import invalid

PDF_MEDIA_TYPE = "application/pdf"
MAX_PDF_PAGES = 100  # per request
# A flat cost per page (the API bills the page's text and its image).
PDF_PAGE_TOKENS = 1500


def pdf_pages(loc: str, raw: bytes) -> int:
    if not raw.startswith(b"%PDF-"):
        raise invalid(f"{loc}: The PDF specified was not valid.")
    try:
        reader = PdfReader(io.BytesIO(raw), strict=False)
        if reader.is_encrypted:
            raise invalid(f"{loc}: The PDF specified is password-protected.")
        return len(reader.pages)
    except (PyPdfError, ValueError, KeyError, TypeError, IndexError, AttributeError, OSError):
        raise invalid(f"{loc}: The PDF specified was not valid.") from None
