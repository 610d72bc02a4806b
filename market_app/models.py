"""The market: instruments, daily closes and the replay clock's shared anchor.

Money and quantities are Decimal (rounding rules in ``desk.money``): prices 6 places,
cash to the cent, quantities whole shares (lots).  Tables keep the names they had
when these models lived in ``portfolio_app`` and ``execution_app`` (``db_table``).
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from simple_history.models import HistoricalRecords

PRICE = {"max_digits": 20, "decimal_places": 6}
MONEY = {"max_digits": 20, "decimal_places": 2}
QTY = {"max_digits": 20, "decimal_places": 4}


class Instrument(models.Model):
    class AssetClass(models.TextChoices):
        EQUITY = "equity", "Equity"
        INDEX = "index", "Index"

    symbol = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=128, blank=True)
    asset_class = models.CharField(max_length=16, choices=AssetClass.choices, default=AssetClass.EQUITY)
    sector = models.CharField(max_length=64, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    lot_size = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal("1"))
    tick_size = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0.01"))
    adv = models.DecimalField("average daily volume (shares)", max_digits=20, decimal_places=0, default=Decimal("0"))
    tradable = models.BooleanField(default=True)
    # On the restricted list: the pre-trade gate denies every order in it (risk_app.services.pretrade).
    restricted = models.BooleanField(default=False)
    # Admins change instruments on the management pages: who, when, before, after and why.
    history = HistoricalRecords(history_change_reason_field=models.TextField(null=True))

    class Meta:
        ordering = ["symbol"]
        db_table = "portfolio_app_instrument"

    def __str__(self) -> str:
        return self.symbol


class PriceBar(models.Model):
    """A daily close. Adjusted history, so prices can be under a dollar: 6 places."""

    instrument = models.ForeignKey(Instrument, on_delete=models.CASCADE, related_name="bars")
    date = models.DateField()
    close = models.DecimalField(**PRICE)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["instrument", "date"], name="pricebar_unique_instrument_date")]
        indexes = [models.Index(fields=["date"])]
        ordering = ["instrument", "date"]
        db_table = "portfolio_app_pricebar"

    def __str__(self) -> str:
        return f"{self.instrument_id} {self.date} {self.close}"



class MarketClockAnchor(models.Model):
    """Where the replay clock started, shared by every process (ASGI, workers, beat).

    Without one stored anchor each process would start its own replay at its own
    boot time and disagree about the market's time.
    """

    key = models.CharField(max_length=16, unique=True, default="default")
    start_market_date = models.DateField()
    seconds_per_session = models.FloatField()
    wall_epoch = models.DateTimeField()

    class Meta:
        db_table = "execution_app_marketclockanchor"

    def __str__(self) -> str:
        return f"replay from {self.start_market_date} at {self.seconds_per_session}s/session since {self.wall_epoch}"




class PaperBookOrder(models.Model):
    """An order resting at (or finished by) a paper venue: the venue's book, kept where every worker sees it.

    ``state`` is the matching model's own record of the order (``PaperExchange.export_order``):
    what is left, the fills with their trade ids, when it is next worked. The paper venue client
    (``market_app.paper_venue``) locks the row, works the order up to market now, and writes it
    back, so a cancel or replace from any process acts on the one book.
    """

    venue = models.CharField(max_length=32)
    client_order_id = models.CharField(max_length=64, unique=True)
    symbol = models.CharField(max_length=16)
    status = models.CharField(max_length=20)
    state = models.JSONField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["status"], name="paperbook_status_idx")]

    def __str__(self) -> str:
        return f"{self.venue} {self.client_order_id} {self.status}"
