"""The versioned API: every app adds its routes here under /api/v1/."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from execution_app import api as execution_api

urlpatterns = [
    path("me/", execution_api.MeView.as_view(), name="api-me"),
    path("token/rotate/", execution_api.TokenRotateView.as_view(), name="api-token-rotate"),
    path("token/revoke/", execution_api.TokenRevokeView.as_view(), name="api-token-revoke"),
    path("portfolios/", execution_api.PortfolioListView.as_view(), name="api-portfolios"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
