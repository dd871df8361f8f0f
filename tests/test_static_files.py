"""`collectstatic` with the production storage: every file hashed, module imports included."""

from __future__ import annotations

import re

from django.core.management import call_command

IMPORT = re.compile(r'from "(\./[^"]+)"')


def test_collectstatic_hashes_module_imports_so_a_deploy_never_mixes_versions(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "chatsite.storage.StaticFilesStorage"},
    }
    call_command("collectstatic", "--noinput", verbosity=0)
    [chat] = [path for path in (tmp_path / "chat").glob("chat.*.js") if path.suffix == ".js"]
    imports = IMPORT.findall(chat.read_text())
    assert imports, "chat.js imports its sibling modules"
    for name in imports:
        assert re.fullmatch(r"\./[\w-]+\.[0-9a-f]{12}\.js", name), name
        assert (tmp_path / "chat" / name[2:]).is_file()
