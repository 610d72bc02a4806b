"""Execution app tasks: thin, idempotent, take ids, call one service."""

from __future__ import annotations

from celery import shared_task

from execution_app import services


@shared_task(ignore_result=True, acks_late=True)
def heartbeat_publish() -> None:
    services.heartbeat_publish()
