"""The Files API: uploads kept in memory, so image blocks can refer to them by `file_id`.

Multipart bodies are parsed with the stdlib `email` parser: the simulator must not import
Django, and a form body is a MIME message once its Content-Type is put in front of it.
"""

from __future__ import annotations

import email.policy
import mimetypes
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage, MIMEPart
from email.parser import BytesParser
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from conversations.llm.simulator.wire import invalid, new_id, not_found

# The real Files API takes files up to 500 MB; the 32 MB request cap is for /v1/messages.
MAX_FILE_BYTES = 500 * 1024 * 1024
GENERIC_MIME_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class StoredFile:
    id: str
    filename: str
    mime_type: str
    data: bytes
    created_at: str

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "file",
            "filename": self.filename,
            "mime_type": self.mime_type,
            "size_bytes": len(self.data),
            "created_at": self.created_at,
            # Only files a tool generated can be downloaded; uploads never can.
            "downloadable": False,
        }


class FileStore:
    """Uploaded files by id. A lock, because one simulator may serve several threads."""

    def __init__(self) -> None:
        self._files: dict[str, StoredFile] = {}
        self._lock = threading.Lock()

    def upload(self, content_type: str, body: bytes) -> StoredFile:
        part = _file_part(content_type, body)
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            raise invalid("file: Expected a file upload")
        filename = _clean_filename(part.get_filename() or "")
        mime_type = _mime_type(part, filename)
        if not filename:
            filename = "unnamed" + (mimetypes.guess_extension(mime_type) or "")
        stored = StoredFile(
            id=new_id("file"),
            filename=filename,
            mime_type=mime_type,
            data=data,
            created_at=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        )
        with self._lock:
            self._files[stored.id] = stored
        return stored

    def get(self, file_id: str) -> StoredFile:
        with self._lock:
            found = self._files.get(file_id)
        if found is None:
            raise not_found(f"File not found: {file_id}")
        return found

    def delete(self, file_id: str) -> dict[str, str]:
        with self._lock:
            removed = self._files.pop(file_id, None)
        if removed is None:
            raise not_found(f"File not found: {file_id}")
        return {"id": file_id, "type": "file_deleted"}

    def page(self) -> dict[str, Any]:
        """All files, newest first, on one page (the SDK's cursor paging stops at next_page)."""
        with self._lock:
            files = list(self._files.values())
        data = [stored.json() for stored in reversed(files)]
        return {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "next_page": None,
        }


def _file_part(content_type: str, body: bytes) -> MIMEPart:
    if not content_type.lower().startswith("multipart/form-data"):
        raise invalid("Content-Type: expected multipart/form-data with a `file` part")
    header = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
    message = BytesParser(policy=email.policy.HTTP).parsebytes(header + body)
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        raise invalid("There was an error parsing the multipart body of your request")
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            return part
    raise invalid("file: Field required")


def _clean_filename(filename: str) -> str:
    # Only the final path component is kept, whichever separator the client used.
    return PurePosixPath(PureWindowsPath(filename).name).name


def _mime_type(part: MIMEPart, filename: str) -> str:
    # Without its own Content-Type a MIME part defaults to text/plain; a file does not.
    declared = part.get_content_type() if part.get("content-type") else GENERIC_MIME_TYPE
    if declared != GENERIC_MIME_TYPE:
        return declared
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or GENERIC_MIME_TYPE
