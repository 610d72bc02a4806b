from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from execution_app import views as ex

urlpatterns = [
    path("healthz", ex.healthz, name="healthz"),
    path("readyz", ex.readyz, name="readyz"),
    path("login/", auth_views.LoginView.as_view(template_name="registration/login.html", redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", ex.overview, name="overview"),
    path("portfolio/", ex.portfolio, name="portfolio"),
    path("proposals/", ex.section_placeholder("Proposals", "No proposals yet."), name="proposals"),
    path("orders/", ex.section_placeholder("Orders", "No orders yet."), name="orders"),
    path("risk/", ex.section_placeholder("Risk", "No limits yet."), name="risk"),
    path("agents/", ex.section_placeholder("Agents", "No agents yet."), name="agents"),
    path("backtests/", ex.section_placeholder("Backtests", "No backtest runs yet."), name="backtests"),
    path("monitoring/", ex.section_placeholder("Monitoring", "No metrics yet."), name="monitoring"),
    path("api/v1/", include("config.api_urls")),
]
