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


def test_settings_when_django_debug_unset_then_debug_is_off_and_a_secret_key_is_required():
    result = _import_settings({})
    assert result.returncode != 0 and "DJANGO_SECRET_KEY is not set" in result.stderr
    result = subprocess.run(
        [sys.executable, "-c", "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup();"
         "from django.conf import settings; print(settings.DEBUG)"],
        env={**{k: v for k, v in os.environ.items() if k != "DJANGO_DEBUG"}, "DJANGO_SECRET_KEY": "x" * 50},
        capture_output=True, text=True, cwd=settings.BASE_DIR, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "False"


def test_visibility_timeout_when_compared_then_above_every_task_time_limit_and_the_longest_eta():
    from config.celery import app

    app.loader.import_default_modules()
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    limits = {name: (t.time_limit or app.conf.task_time_limit or 0) for name, t in app.tasks.items() if not name.startswith("celery.")}
    longest = max(limits, key=limits.get)
    assert limits[longest] <= settings.DESK_LONGEST_TASK_SECONDS, f"{longest}: raise DESK_LONGEST_TASK_SECONDS"
    assert limits[longest] < visibility, f"{longest} runs up to {limits[longest]}s, redelivered after {visibility}s"
    assert settings.DESK_MAX_ETA_SECONDS < visibility


def test_settings_when_visibility_timeout_below_a_task_time_limit_then_refused_with_the_reason():
    result = _import_settings({"DJANGO_DEBUG": "true", "CELERY_VISIBILITY_TIMEOUT": "600"})
    assert result.returncode != 0 and "CELERY_VISIBILITY_TIMEOUT (600s) must exceed" in result.stderr


def test_work_after_commit_when_the_child_is_due_hours_ahead_then_sent_no_later_than_the_max_eta(monkeypatch, django_capture_on_commit_callbacks, db):
    from datetime import timedelta

    from django.utils import timezone

    from desk import tasks as desk_tasks
    from orders_app import dispatch

    sent = []
    monkeypatch.setattr(desk_tasks, "enqueue", lambda name, args=(), kwargs=None, **o: sent.append((name, o["eta"])))
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        dispatch.work_after_commit(7, 1, eta=before + timedelta(hours=6))
        dispatch.work_after_commit(8, 1, eta=before + timedelta(minutes=5))
    (n1, eta1), (n2, eta2) = sent
    assert n1 == n2 == "orders_app.tasks.child_execute"
    assert eta1 <= timezone.now() + timedelta(seconds=settings.DESK_MAX_ETA_SECONDS)
    assert eta2 == before + timedelta(minutes=5)
