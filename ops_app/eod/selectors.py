"""Reads of the end-of-day reports: who sees which, the list, one report and its renderings."""

from __future__ import annotations

from django.db.models import QuerySet

from desk import roles
from ops_app.eod import core
from ops_app.eod.models import EodReport


def reports_visible_to(user) -> QuerySet[EodReport]:
    """Risk officers and admins see every report (the desk's too); traders those of their portfolios."""
    qs = EodReport.objects.select_related("portfolio", "requested_by")
    if roles.sees_all_portfolios(user):
        return qs
    if roles.is_trader(user):
        return qs.filter(scope=EodReport.Scope.PORTFOLIO, portfolio__traders=user)
    return qs.none()


def report_rows(user) -> QuerySet[EodReport]:
    """The list's rows: the report's identity and a few summary figures read inside the JSON (not the content)."""
    from django.db.models.fields.json import KT

    return reports_visible_to(user).annotate(
        label=KT("content__meta__portfolio"), nav=KT("content__summary__nav"), pnl_daily=KT("content__summary__pnl_daily"),
        fills=KT("content__summary__fills"),
    ).defer("content")


def report_get(user, report_id: int) -> EodReport | None:
    return reports_visible_to(user).filter(pk=report_id).first()


def report_identity(report: EodReport) -> dict[str, str]:
    """What the CSV's ``report`` section and the PDF's header say about the stored row."""
    return {
        "id": str(report.pk), "scope_key": report.scope_key, "session": report.session.isoformat(),
        "version": str(report.version), "trigger": report.trigger,
        "requested_by": report.requested_by.username if report.requested_by else "",
        "created_at": report.created_at.isoformat(), "content_hash": report.content_hash,
    }


def report_intact(report: EodReport) -> bool:
    """The stored content still hashes to the hash frozen with it."""
    return core.content_hash(report.content) == report.content_hash


def report_csv(report: EodReport) -> str:
    return core.to_csv(report.content, report=report_identity(report))


def report_pdf(report: EodReport) -> bytes:
    from ops_app.eod.pdf import to_pdf

    return to_pdf(report.content, report=report_identity(report))


def filename(report: EodReport, ext: str) -> str:
    scope = report.scope_key.replace(":", "-")
    return f"eod-{report.session.isoformat()}-{scope}-v{report.version}.{ext}"
