"""The Reports pages: the list of end-of-day reports, one report, its CSV and PDF, and "Generate now"
(thin: authorise, call a service or selector, render)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseForbidden, HttpResponseNotAllowed
from django.shortcuts import redirect, render

from desk import roles
from desk.errors import Forbidden, Invalid
from desk.web import desk_page
from ops_app.eod import core
from ops_app.eod import selectors as sel
from ops_app.eod.fmt import display_time
from ops_app.eod.services import eod_report_request

NUMERIC = frozenset({
    "quantity", "avg_cost", "mark", "market_value", "weight_pct", "unrealised_pnl", "realised_pnl", "filled_qty", "avg_px",
    "arrival_px", "slippage_bps", "price", "commission", "orders", "fills", "notional", "fees", "fees_bps",
    "slippage_arrival_bps", "slippage_vwap_bps", "fill_rate_pct", "threshold", "utilisation_pct", "time", "found",
})
SUMMARY_CARDS = (("nav", "NAV"), ("pnl_daily", "P&L day"), ("pnl_mtd", "P&L MTD"), ("pnl_ytd", "P&L YTD"),
                 ("cash", "Cash"), ("gross", "Gross"), ("realised_today", "Realised today"), ("fees_today", "Fees today"))


@desk_page
def reports_page(request):
    from portfolio_app.selectors import portfolios_visible_to

    reports = list(sel.report_rows(request.user)[:300])
    return render(request, "ops/eod_list.html", {
        "reports": reports,
        "portfolios": list(portfolios_visible_to(request.user).order_by("name")),
        "may_desk": roles.sees_all_portfolios(request.user),
    })


@desk_page
def report_page(request, report_id: int):
    report = sel.report_get(request.user, report_id)
    if report is None:
        raise Http404("No such report")
    c = report.content
    # The page shows times in the desk's display zone; the CSV and PDF keep them as stored (ISO, UTC).
    tables = [{
        "key": k, "title": t, "columns": [(col, col in NUMERIC) for col in cols],
        "rows": [[(display_time(r[col]) if col in ("time", "found") else r[col], col in NUMERIC) for col in cols]
                 for r in c["tables"][k]],
    } for k, t, cols in core.TABLES]
    versions = list(sel.reports_visible_to(request.user).filter(scope_key=report.scope_key, session=report.session)
                    .order_by("version"))
    return render(request, "ops/eod_detail.html", {
        "report": report, "meta": c["meta"], "summary": c["summary"], "tables": tables, "versions": versions,
        "cards": [(label, c["summary"][k], k) for k, label in SUMMARY_CARDS],
        "intact": sel.report_intact(report), "close_time": display_time(c["meta"]["market_close"]),
    })


@desk_page
def report_csv(request, report_id: int):
    report = sel.report_get(request.user, report_id)
    if report is None:
        raise Http404("No such report")
    response = HttpResponse(sel.report_csv(report), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{sel.filename(report, "csv")}"'
    return response


@desk_page
def report_pdf(request, report_id: int):
    report = sel.report_get(request.user, report_id)
    if report is None:
        raise Http404("No such report")
    response = HttpResponse(sel.report_pdf(report), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{sel.filename(report, "pdf")}"'
    return response


@desk_page
def report_generate(request):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        report = eod_report_request(user=request.user, portfolio_id=request.POST.get("portfolio") or None,
                                    session=request.POST.get("session") or None)
    except Forbidden as exc:
        return HttpResponseForbidden(str(exc))
    except Invalid as exc:
        messages.error(request, f"No report written: {exc}")
        return redirect("eod-reports")
    messages.success(request, f"Report of {report.scope_key} for {report.session} written: version {report.version}.")
    return redirect("eod-report", report.pk)
