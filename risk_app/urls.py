"""The Risk pages under /risk/ (included from config/urls.py; names are global)."""

from django.urls import path

from risk_app import views

urlpatterns = [
    path("", views.risk_page, name="risk"),
    path("limits/<int:limit_id>/history/", views.limit_history, name="risk-limit-history"),
    path("limits/new/", views.limit_create, name="risk-limit-create"),
    path("limits/<int:limit_id>/edit/", views.limit_edit, name="risk-limit-edit"),
    path("limits/<int:limit_id>/delete/", views.limit_delete, name="risk-limit-delete"),
    path("changes/<int:change_id>/approve/", views.change_approve, name="risk-change-approve"),
    path("changes/<int:change_id>/reject/", views.change_reject, name="risk-change-reject"),
    path("state/", views.state_set, name="risk-state-set"),
    path("state/confirm/", views.state_confirm, name="risk-state-confirm"),
    path("state/reject/", views.state_reject, name="risk-state-reject"),
    path("alerts/<int:alert_id>/acknowledge/", views.alert_acknowledge, name="risk-alert-ack"),
]
