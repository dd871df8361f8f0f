"""Static files storage."""

from __future__ import annotations

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):  # type: ignore[misc]
    """Hashed, compressed static files whose ES module imports name hashed files too.

    chat.js imports its sibling modules (`./api.js`, ...): with the names left plain, a deploy
    could serve a new chat.js that imports an old, still-cached module, or the reverse.
    """

    support_js_module_import_aggregation = True
