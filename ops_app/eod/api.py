"""End-of-day reports under /api/v1/eod-reports/ (thin: validate, call a service or selector, serialise).

Traders read and ask for their portfolios' reports; risk officers and admins every one, the desk's too.
A report is immutable: there is no update or delete; asking again writes a new version.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from desk import roles
from ops_app.eod import selectors as sel
from ops_app.eod.services import eod_report_request


class EodReportOutput(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    session = serializers.DateField()
    scope = serializers.CharField()
    scope_key = serializers.CharField()
    portfolio = serializers.IntegerField(source="portfolio_id", allow_null=True)
    version = serializers.IntegerField()
    trigger = serializers.CharField()
    requested_by = serializers.CharField(source="requested_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    content_hash = serializers.CharField()
    intact = serializers.SerializerMethodField()

    def get_intact(self, obj) -> bool:
        return sel.report_intact(obj)


class EodReportDetailOutput(EodReportOutput):
    content = serializers.JSONField()


class EodReportRequestInput(serializers.Serializer):
    portfolio = serializers.CharField(required=False, allow_null=True, allow_blank=True,
                                      help_text="A portfolio id; absent: the desk's report (risk officers and admins).")
    session = serializers.CharField(required=False, allow_null=True, allow_blank=True,
                                    help_text="A closed session (YYYY-MM-DD); absent: the last closed one.")


class EodView(APIView):
    permission_classes = [roles.IsDeskUser]


class EodReportListCreateView(EodView):
    @extend_schema(parameters=[
        OpenApiParameter("session", OpenApiTypes.DATE, description="only this session's reports"),
        OpenApiParameter("portfolio", OpenApiTypes.INT, description="only this portfolio's reports"),
    ], responses=EodReportOutput(many=True))
    def get(self, request):
        from datetime import date

        from desk.errors import Invalid

        qs = sel.reports_visible_to(request.user)
        session, portfolio = request.query_params.get("session"), request.query_params.get("portfolio")
        if session:
            try:
                qs = qs.filter(session=date.fromisoformat(session))
            except ValueError:
                raise Invalid("session: a date (YYYY-MM-DD) is required",
                              field_errors={"session": "A date (YYYY-MM-DD) is required."}) from None
        if portfolio:
            if not (portfolio.isascii() and portfolio.isdigit() and int(portfolio) < 2**31):
                raise Invalid("portfolio: a portfolio id (a number) is required",
                              field_errors={"portfolio": "A portfolio id (a number) is required."})
            qs = qs.filter(portfolio_id=int(portfolio))
        return Response(EodReportOutput(qs[:500], many=True).data)

    @extend_schema(request=EodReportRequestInput, responses={201: EodReportOutput})
    def post(self, request):
        data = EodReportRequestInput(data=request.data)
        data.is_valid(raise_exception=True)
        report = eod_report_request(user=request.user, portfolio_id=data.validated_data.get("portfolio"),
                                    session=data.validated_data.get("session"))
        return Response(EodReportOutput(report).data, status=201)


class EodReportDetailView(EodView):
    @extend_schema(responses=EodReportDetailOutput)
    def get(self, request, report_id: int):
        report = get_object_or_404(sel.reports_visible_to(request.user), pk=report_id)
        return Response(EodReportDetailOutput(report).data)


class EodReportCsvView(EodView):
    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request, report_id: int):
        report = get_object_or_404(sel.reports_visible_to(request.user), pk=report_id)
        response = HttpResponse(sel.report_csv(report), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{sel.filename(report, "csv")}"'
        return response


class EodReportPdfView(EodView):
    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    def get(self, request, report_id: int):
        report = get_object_or_404(sel.reports_visible_to(request.user), pk=report_id)
        response = HttpResponse(sel.report_pdf(report), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{sel.filename(report, "pdf")}"'
        return response
