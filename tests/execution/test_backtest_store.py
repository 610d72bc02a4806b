"""A run's rows go to the database in one ``COPY`` per table (PostgreSQL), stored exactly as ``bulk_create`` would."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from execution_app.models import ScenarioEquity, ScenarioRun, ScenarioTrade
from execution_app.scenarios.services import rows_insert

pytestmark = pytest.mark.django_db


def test_rows_insert_when_values_are_awkward_then_each_is_stored_as_given():
    from desk.interfaces import Side

    run = ScenarioRun.objects.create(kind=ScenarioRun.Kind.BACKTEST, name="store", strategy="equal_weight")
    rows_insert(ScenarioEquity, ("run", "date", "equity", "benchmark"), [
        (run.pk, date(2022, 1, 3), Decimal("1000000.00"), None),
        (run.pk, datetime(2022, 1, 4, 21, tzinfo=timezone.utc), Decimal("-12.3"), Decimal("7")),  # to its date, as the field does
        (run.pk, "2022-01-05", 5, 2.5),  # an ISO date, an int, a float: prepared as the field would
    ])
    rows_insert(ScenarioTrade, ("run", "date", "symbol", "side", "qty", "price", "commission", "slippage",
                                "reference_price", "weight_after", "order_id"), [
        (run.pk, date(2022, 1, 3), "BRK\\B", Side.BUY, Decimal("10"), Decimal("123.456789"), Decimal("0.62"),
         Decimal("0"), None, 0.05, "R1-\tBRK\nB"),
        (run.pk, date(2022, 1, 3), "MSFT", "SELL", Decimal("2.5"), Decimal("0.1234567"), Decimal("0.006"),
         Decimal("0.016"), Decimal("1.000001"), None, ""),
    ])

    eq = list(ScenarioEquity.objects.filter(run=run).order_by("date").values_list("date", "equity", "benchmark"))
    assert eq == [(date(2022, 1, 3), Decimal("1000000.00"), None), (date(2022, 1, 4), Decimal("-12.30"), Decimal("7.00")),
                  (date(2022, 1, 5), Decimal("5.00"), Decimal("2.50"))]
    trades = list(ScenarioTrade.objects.filter(run=run).order_by("id").values_list(
        "symbol", "side", "qty", "price", "commission", "slippage", "reference_price", "weight_after", "order_id"))
    assert trades == [
        ("BRK\\B", "BUY", Decimal("10.0000"), Decimal("123.456789"), Decimal("0.62"), Decimal("0.00"), None, 0.05,
         "R1-\tBRK\nB"),
        ("MSFT", "SELL", Decimal("2.5000"), Decimal("0.123457"), Decimal("0.01"), Decimal("0.02"), Decimal("1.000001"),
         None, ""),
    ]
