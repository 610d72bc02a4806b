from django.urls import path

from fix_app import views

urlpatterns = [
    path("", views.venues_page, name="venues"),
    path("new/", views.venue_save_view, name="venue-create"),
    path("<int:venue_id>/", views.venue_save_view, name="venue-save"),
    path("<int:venue_id>/sequence-reset/", views.sequence_reset_view, name="venue-sequence-reset"),
]
