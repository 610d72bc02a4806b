from django.urls import path

from fix_app import recon_views, views

urlpatterns = [
    path("", views.venues_page, name="venues"),
    path("new/", views.venue_save_view, name="venue-create"),
    path("<int:venue_id>/", views.venue_save_view, name="venue-save"),
    path("<int:venue_id>/sequence-reset/", views.sequence_reset_view, name="venue-sequence-reset"),
    path("reconciliation/", recon_views.reconciliation_page, name="reconciliation"),
    path("<int:venue_id>/reconcile/", recon_views.reconcile_now_view, name="venue-reconcile"),
    path("reconciliation/breaks/<int:break_id>/resolve/", recon_views.break_resolve_view, name="break-resolve"),
]
