"""Production settings, checked in a fresh interpreter: settings are read once, at import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "x7#kq!v2-" * 8,
    "ALLOWED_HOSTS": "chat.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://chat.example.com",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS")
    }
    clean.update(DJANGO_SETTINGS_MODULE="chatsite.settings", **env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True
    )


def test_production_settings_pass_check_deploy(tmp_path):
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env={**PRODUCTION, "CHATSITE_DATA_DIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    env = {**PRODUCTION, "SECRET_KEY": "", "CHATSITE_DATA_DIR": str(tmp_path)}
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


@pytest.mark.parametrize("hosts", ["", "*"])
def test_production_refuses_a_wildcard_or_missing_allowed_hosts(tmp_path, hosts):
    result = manage(
        "check", env={**PRODUCTION, "ALLOWED_HOSTS": hosts, "CHATSITE_DATA_DIR": str(tmp_path)}
    )
    assert result.returncode != 0
    assert "ALLOWED_HOSTS" in result.stderr


def test_development_keeps_a_generated_secret_key_across_restarts(tmp_path):
    env = {"DEBUG": "true", "SECRET_KEY": "", "CHATSITE_DATA_DIR": str(tmp_path)}
    code = "from django.conf import settings; print(settings.SECRET_KEY)"
    first = manage("shell", "-c", code, env=env)
    second = manage("shell", "-c", code, env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert len(first.stdout.strip()) >= 50
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("redis_url", "backend"),
    [("", "LocMemCache"), ("redis://127.0.0.1:6379/0", "RedisCache")],
)
def test_processes_share_the_cache_through_redis_when_it_is_configured(
    tmp_path, redis_url, backend
):
    env = {**PRODUCTION, "CHATSITE_DATA_DIR": str(tmp_path), "REDIS_URL": redis_url}
    code = "from django.core.cache import caches; print(type(caches['default']).__name__)"
    result = manage("shell", "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == backend
