from django.urls import path

from ops_app.manage import views

urlpatterns = [
    path("", views.manage_home, name="manage"),
    path("users/", views.users_page, name="manage-users"),
    path("users/new/", views.user_create_view, name="manage-user-create"),
    path("users/<int:user_id>/", views.user_page, name="manage-user"),
    path("users/<int:user_id>/deactivate/", views.user_active_view, {"active": False}, name="manage-user-deactivate"),
    path("users/<int:user_id>/activate/", views.user_active_view, {"active": True}, name="manage-user-activate"),
    path("users/<int:user_id>/token/", views.user_token_view, name="manage-user-token"),
    path("portfolios/", views.portfolios_page, name="manage-portfolios"),
    path("portfolios/new/", views.portfolio_create_view, name="manage-portfolio-create"),
    path("portfolios/<int:portfolio_id>/", views.portfolio_page, name="manage-portfolio"),
    path("instruments/", views.instruments_page, name="manage-instruments"),
    path("instruments/<int:instrument_id>/", views.instrument_page, name="manage-instrument"),
    path("audit/", views.audit_page, name="manage-audit"),
]
