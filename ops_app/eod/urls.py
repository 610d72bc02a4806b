from django.urls import path

from ops_app.eod import views

urlpatterns = [
    path("", views.reports_page, name="eod-reports"),
    path("generate/", views.report_generate, name="eod-generate"),
    path("<int:report_id>/", views.report_page, name="eod-report"),
    path("<int:report_id>/csv/", views.report_csv, name="eod-report-csv"),
    path("<int:report_id>/pdf/", views.report_pdf, name="eod-report-pdf"),
]
