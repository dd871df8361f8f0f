"""PDF attachments: checked by pypdf in an isolated child, sent to Claude as `document` blocks.

A PDF cannot be re-encoded the way an image is, so it is stored as uploaded; what we guarantee
is that it opens, is not encrypted (Claude could not read it), and stays within the page limit.
It is served only as a download, never rendered by the browser on our origin.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

from django.conf import settings

from conversations.services.isolation import IsolatedFailure, run_isolated

logger = logging.getLogger(__name__)

PDF_MEDIA_TYPE = "application/pdf"
PDF_SIGNATURE = b"%PDF-"
# Claude reads each page as text and as an image: about 1,500-3,000 tokens a page.
PDF_TOKENS_PER_PAGE = 2000
# Sent inline, a PDF grows by a third: beyond this it would not fit the request's 24 MB budget
# for inline attachments (services/vision.py), so it is refused at upload.
MAX_PDF_BYTES = 17 * 1024 * 1024

DAMAGED = "This PDF could not be read: the file is damaged or incomplete."
ENCRYPTED = "This PDF is password-protected; Claude can only read unprotected PDFs."
EMPTY = "This PDF has no pages."
TOO_COMPLEX = "This PDF is too large or complex to process."


class DocumentRejected(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class CheckedDocument:
    page_count: int


def looks_like_pdf(data: bytes) -> bool:
    return data.startswith(PDF_SIGNATURE)


def pdf_check(data: bytes, *, max_pages: int) -> CheckedDocument:
    """Open the PDF and count its pages (sync, pure; run it through `pdf_check_isolated`)."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise DocumentRejected(ENCRYPTED)
        pages = len(reader.pages)
    except DocumentRejected:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, IndexError, AttributeError, OSError):
        raise DocumentRejected(DAMAGED) from None
    if pages == 0:
        raise DocumentRejected(EMPTY)
    if pages > max_pages:
        raise DocumentRejected(
            f"This PDF has {pages} pages; Claude reads at most {max_pages} pages at a time."
        )
    return CheckedDocument(page_count=pages)


def pdf_check_isolated(data: bytes) -> CheckedDocument:
    """`pdf_check` in a child process bounded like image decoding (hostile PDFs can loop or
    inflate streams)."""
    try:
        return run_isolated(
            _check_in_child,
            data,
            settings.CHATSITE_PDF_MAX_PAGES,
            timeout=settings.CHATSITE_IMAGE_TIMEOUT_SECONDS,
            memory_bytes=settings.CHATSITE_IMAGE_MEMORY_BYTES,
            passthrough=(DocumentRejected,),
        )
    except IsolatedFailure as error:
        raise DocumentRejected(TOO_COMPLEX) from error


def _check_in_child(data: bytes, max_pages: int) -> CheckedDocument:
    return pdf_check(data, max_pages=max_pages)
