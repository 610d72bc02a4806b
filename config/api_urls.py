"""The versioned API: every app adds its routes here under /api/v1/."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from execution_app import api as rebalance_api
from market_app import api as market_api
from ops_app import api as ops_api
from portfolio_app import api as portfolio_api

urlpatterns = [
    path("me/", ops_api.MeView.as_view(), name="api-me"),
    path("clock/", market_api.ClockView.as_view(), name="api-clock"),
    path("token/rotate/", ops_api.TokenRotateView.as_view(), name="api-token-rotate"),
    path("token/revoke/", ops_api.TokenRevokeView.as_view(), name="api-token-revoke"),
    path("portfolios/", portfolio_api.PortfolioListView.as_view(), name="api-portfolios"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]

# Signals, agents and aggregates.
from signals_app import api as signal_api  # noqa: E402

urlpatterns += [
    path("signals/", signal_api.SignalListCreateView.as_view(), name="api-signals"),
    path("agents/", signal_api.AgentListCreateView.as_view(), name="api-agents"),
    path("agents/types/", signal_api.AgentTypeListView.as_view(), name="api-agent-types"),
    path("agents/<int:agent_id>/", signal_api.AgentDetailView.as_view(), name="api-agent"),
    path("agents/<int:agent_id>/run/", signal_api.AgentRunView.as_view(), name="api-agent-run"),
    path("agents/<int:agent_id>/versions/", signal_api.AgentVersionListView.as_view(), name="api-agent-versions"),
    path("agents/<int:agent_id>/versions/<int:number>/restore/", signal_api.AgentVersionRestoreView.as_view(),
         name="api-agent-version-restore"),
    path("aggregates/", signal_api.AggregatesView.as_view(), name="api-aggregates"),
]

# Orders, venues.
from orders_app import api as orders_api  # noqa: E402

urlpatterns += [
    path("orders/", orders_api.OrderListCreateView.as_view(), name="api-orders"),
    path("orders/<int:order_id>/", orders_api.OrderDetailView.as_view(), name="api-order"),
    path("orders/<int:order_id>/cancel/", orders_api.OrderCancelView.as_view(), name="api-order-cancel"),
    path("orders/<int:order_id>/amend/", orders_api.OrderAmendView.as_view(), name="api-order-amend"),
    path("portfolios/<int:portfolio_id>/cancel-all/", orders_api.PortfolioCancelAllView.as_view(), name="api-portfolio-cancel-all"),
    path("venues/scorecard/", orders_api.VenueScorecardView.as_view(), name="api-venue-scorecard"),
]

# Portfolios and rebalance proposals.

urlpatterns += [
    path("portfolios/<int:portfolio_id>/", portfolio_api.PortfolioDetailView.as_view(), name="api-portfolio"),
    path("portfolios/<int:portfolio_id>/frontier/", portfolio_api.PortfolioFrontierView.as_view(), name="api-portfolio-frontier"),
    path("portfolios/<int:portfolio_id>/proposals/", rebalance_api.PortfolioProposalRequestView.as_view(), name="api-portfolio-proposals"),
    path("proposals/", portfolio_api.ProposalListView.as_view(), name="api-proposals"),
    path("proposals/<int:proposal_id>/", portfolio_api.ProposalDetailView.as_view(), name="api-proposal"),
    path("proposals/<int:proposal_id>/approve/", rebalance_api.ProposalApproveView.as_view(), name="api-proposal-approve"),
    path("proposals/<int:proposal_id>/reject/", rebalance_api.ProposalRejectView.as_view(), name="api-proposal-reject"),
]

# Risk: limits, four-eyes changes, trading state, checks, exposure, alerts.
from risk_app import api as risk_api  # noqa: E402

urlpatterns += [
    path("risk/limits/", risk_api.LimitListCreateView.as_view(), name="api-risk-limits"),
    path("risk/limits/<int:limit_id>/", risk_api.LimitDetailView.as_view(), name="api-risk-limit"),
    path("risk/limits/<int:limit_id>/history/", risk_api.LimitHistoryView.as_view(), name="api-risk-limit-history"),
    path("risk/pending-changes/", risk_api.PendingChangeListView.as_view(), name="api-risk-pending-changes"),
    path("risk/pending-changes/<int:change_id>/approve/", risk_api.PendingChangeApproveView.as_view(), name="api-risk-change-approve"),
    path("risk/pending-changes/<int:change_id>/reject/", risk_api.PendingChangeRejectView.as_view(), name="api-risk-change-reject"),
    path("risk/state/", risk_api.TradingStateView.as_view(), name="api-risk-state"),
    path("risk/state/confirm/", risk_api.TradingStateConfirmView.as_view(), name="api-risk-state-confirm"),
    path("risk/state/reject/", risk_api.TradingStateRejectView.as_view(), name="api-risk-state-reject"),
    path("risk/check/", risk_api.CheckView.as_view(), name="api-risk-check"),
    path("risk/exposure/", risk_api.ExposureView.as_view(), name="api-risk-exposure"),
    path("alerts/", risk_api.AlertListView.as_view(), name="api-alerts"),
    path("alerts/<int:alert_id>/acknowledge/", risk_api.AlertAcknowledgeView.as_view(), name="api-alert-acknowledge"),
]

# Backtests and scenario runs.
from execution_app.scenarios import api as scenario_api  # noqa: E402

urlpatterns += [
    path("backtests/", scenario_api.BacktestListCreateView.as_view(), name="api-backtests"),
    path("backtests/compare/", scenario_api.BacktestCompareView.as_view(), name="api-backtests-compare"),
    path("backtests/paper/", scenario_api.PaperStartView.as_view(), name="api-backtests-paper-start"),
    path("backtests/<int:run_id>/", scenario_api.BacktestDetailView.as_view(), name="api-backtest"),
    path("backtests/<int:run_id>/stop/", scenario_api.PaperStopView.as_view(), name="api-backtest-stop"),
    path("backtests/<int:run_id>/equity.csv", scenario_api.BacktestEquityCsvView.as_view(), name="api-backtest-equity-csv"),
    path("backtests/<int:run_id>/trades.csv", scenario_api.BacktestTradesCsvView.as_view(), name="api-backtest-trades-csv"),
]

# Gradual rollout: live/shadow switches for admins, audited.
from ops_app import rollout  # noqa: E402

urlpatterns += [
    path("portfolios/<int:portfolio_id>/mode/", rollout.PortfolioModeView.as_view(), name="api-portfolio-mode"),
    path("agents/<int:agent_id>/mode/", rollout.AgentModeView.as_view(), name="api-agent-mode"),
]

# End-of-day reports.
from ops_app.eod import api as eod_api  # noqa: E402

urlpatterns += [
    path("eod-reports/", eod_api.EodReportListCreateView.as_view(), name="api-eod-reports"),
    path("eod-reports/<int:report_id>/", eod_api.EodReportDetailView.as_view(), name="api-eod-report"),
    path("eod-reports/<int:report_id>/csv/", eod_api.EodReportCsvView.as_view(), name="api-eod-report-csv"),
    path("eod-reports/<int:report_id>/pdf/", eod_api.EodReportPdfView.as_view(), name="api-eod-report-pdf"),
]

# Versioned strategy configurations and gradual rollouts (shadow -> canary -> full, four-eyes promotion).
from ops_app.rollout import api as rollout_api  # noqa: E402

urlpatterns += [
    path("rollouts/", rollout_api.RolloutListCreateView.as_view(), name="api-rollouts"),
    path("rollouts/<int:rollout_id>/", rollout_api.RolloutDetailView.as_view(), name="api-rollout"),
    path("rollouts/<int:rollout_id>/promotions/", rollout_api.RolloutPromotionRequestView.as_view(), name="api-rollout-promote"),
    path("rollouts/<int:rollout_id>/rollback/", rollout_api.RolloutRollbackView.as_view(), name="api-rollout-rollback"),
    path("rollouts/<int:rollout_id>/abandon/", rollout_api.RolloutAbandonView.as_view(), name="api-rollout-abandon"),
    path("rollouts/promotions/<int:promotion_id>/approve/", rollout_api.RolloutPromotionApproveView.as_view(),
         name="api-rollout-promotion-approve"),
    path("rollouts/promotions/<int:promotion_id>/reject/", rollout_api.RolloutPromotionRejectView.as_view(),
         name="api-rollout-promotion-reject"),
    path("portfolios/<int:portfolio_id>/strategy/", rollout_api.StrategyUpdateView.as_view(), name="api-portfolio-strategy"),
    path("portfolios/<int:portfolio_id>/strategy/versions/", rollout_api.StrategyVersionListView.as_view(),
         name="api-portfolio-strategy-versions"),
    path("portfolios/<int:portfolio_id>/strategy/versions/<int:number>/restore/",
         rollout_api.StrategyVersionRestoreView.as_view(), name="api-portfolio-strategy-version-restore"),
]
