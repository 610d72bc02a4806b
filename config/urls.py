from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from execution_app import views as ex
from execution_app.scenarios import views as scenario_views
from ops_app import views as ops_views
from orders_app import views as orders_views
from portfolio_app import views as portfolio_views
from signals_app import views as signal_views

urlpatterns = [
    path("healthz", ops_views.healthz, name="healthz"),
    path("readyz", ops_views.readyz, name="readyz"),
    path("metrics", ops_views.metrics, name="metrics"),
    path("login/", auth_views.LoginView.as_view(template_name="registration/login.html", redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", ex.overview, name="overview"),
    path("portfolio/", portfolio_views.portfolio, name="portfolio"),
    path("proposals/", portfolio_views.proposals, name="proposals"),
    path("proposals/<int:proposal_id>/", portfolio_views.proposal_detail, name="proposal-detail"),
    path("orders/", orders_views.orders_page, name="orders"),
    path("orders/<int:order_id>/", orders_views.order_detail_page, name="order-detail"),
    path("orders/<int:order_id>/children/", orders_views.order_children_fragment, name="order-children"),
    path("orders/<int:order_id>/cancel/", orders_views.order_cancel_page, name="order-cancel"),
    path("orders/portfolio/<int:portfolio_id>/cancel-all/", orders_views.portfolio_cancel_all_page, name="portfolio-cancel-all"),
    path("risk/", include("risk_app.urls")),
    path("venues/", include("fix_app.urls")),
    path("manage/", include("ops_app.manage.urls")),
    path("agents/", signal_views.agents_page, name="agents"),
    path("agents/<int:agent_id>/edit/", signal_views.agent_edit, name="agent-edit"),
    path("agents/<int:agent_id>/versions/<int:number>/restore/", signal_views.agent_version_restore,
         name="agent-version-restore"),
    path("backtests/", scenario_views.backtests_page, name="backtests"),
    path("monitoring/", ops_views.monitoring_page, name="monitoring"),
    path("reports/", include("ops_app.eod.urls")),
    path("api/v1/", include("config.api_urls")),
]

# Backtests and scenario runs.
urlpatterns += [
    path("backtests/compare/", scenario_views.backtests_compare, name="backtests-compare"),
    path("backtests/<int:run_id>/", scenario_views.backtest_detail, name="backtest-detail"),
    path("backtests/<int:run_id>/tearsheet/", scenario_views.backtest_tearsheet, name="backtest-tearsheet"),
]

# Monitoring: charts' data, alert rules and rollout modes.
urlpatterns += [
    path("monitoring/data/", ops_views.monitoring_data, name="monitoring-data"),
    path("monitoring/rules/new/", ops_views.alert_rule_save, name="monitoring-rule-create"),
    path("monitoring/rules/<int:rule_id>/", ops_views.alert_rule_save, name="monitoring-rule-save"),
    path("monitoring/mode/", ops_views.mode_switch, name="monitoring-mode"),
    path("monitoring/rollouts/<int:rollout_id>/promote/", ops_views.rollout_action, {"action": "promote"},
         name="monitoring-rollout-promote"),
    path("monitoring/rollouts/<int:rollout_id>/rollback/", ops_views.rollout_action, {"action": "rollback"},
         name="monitoring-rollout-rollback"),
    path("monitoring/rollouts/<int:rollout_id>/abandon/", ops_views.rollout_action, {"action": "abandon"},
         name="monitoring-rollout-abandon"),
    path("monitoring/promotions/<int:promotion_id>/", ops_views.rollout_promotion_decide, name="monitoring-promotion-decide"),
]


def _not_found(request, exception=None):
    """JSON in the desk's error format under /api/, the plain page elsewhere."""
    from django.http import JsonResponse
    from django.views.defaults import page_not_found

    if request.path.startswith("/api/"):
        return JsonResponse({"code": "not_found", "message": f"No such resource: {request.path}", "errors": []}, status=404)
    return page_not_found(request, exception)


def _server_error(request):
    from django.http import JsonResponse
    from django.views.defaults import server_error

    if request.path.startswith("/api/"):
        return JsonResponse({"code": "server_error", "message": "The desk could not complete this request; it has been logged.", "errors": []}, status=500)
    return server_error(request)


handler404 = _not_found
handler500 = _server_error
