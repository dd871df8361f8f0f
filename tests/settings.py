"""Test settings: chatsite's one settings module with development defaults.

Only what tests must not share with a laptop install is set here; everything else (database,
channel layer) still comes from the environment, so CI can run the suite on PostgreSQL + Redis.
"""

import os
import tempfile

os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-not-for-production-0123456789abcdef")
os.environ.setdefault("CHATSITE_DATA_DIR", tempfile.mkdtemp(prefix="chatsite-test-data-"))
os.environ.setdefault("CHATSITE_SIMULATOR_TOKEN_DELAY", "0")

from chatsite.settings import *  # noqa: F403
from chatsite.settings import STORAGES

# Tests run without `collectstatic`: plain storage, no manifest.
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# The title call after a first exchange would be one more request in every test that reads
# what the simulator received; tests of titles turn it on.
CHATSITE_AUTO_TITLE = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# A file, not SQLite's shared in-memory database: the browser tests' server thread writes to it
# while the test reads, which shared-cache memory databases answer with "table is locked".
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}  # noqa: F405
