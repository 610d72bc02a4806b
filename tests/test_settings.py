import os
import subprocess
import sys

from django.conf import settings


def _import_settings(env_overrides):
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SECRET_KEY", "DJANGO_DEBUG"}}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "-c", "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup(); print('ok')"],
        env=env, capture_output=True, text=True, cwd=settings.BASE_DIR, timeout=120,
    )


def test_settings_when_debug_off_and_no_secret_key_then_fails_with_clear_message():
    result = _import_settings({"DJANGO_DEBUG": "false"})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr
    assert "required when DJANGO_DEBUG is off" in result.stderr


def test_settings_when_debug_off_and_secret_key_set_then_loads():
    result = _import_settings({"DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": "x" * 50})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")


def test_settings_when_no_database_url_then_sqlite_in_wal_with_immediate_transactions():
    result = subprocess.run(
        [sys.executable, "-c",
         "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup();"
         "from django.db import connection; c=connection.cursor(); c.execute('PRAGMA journal_mode'); "
         "print(connection.vendor, c.fetchone()[0], connection.settings_dict['OPTIONS']['transaction_mode'])"],
        env={k: v for k, v in os.environ.items() if k != "DATABASE_URL"}, capture_output=True, text=True,
        cwd=settings.BASE_DIR, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-3:] == ["sqlite", "wal", "IMMEDIATE"]
