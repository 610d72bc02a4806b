"""Read queries compiled once per process (desk.compiled): the rows the ORM would give, each call's values bound."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import OuterRef, Subquery
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from desk.compiled import CompiledQuery, fields_of

pytestmark = pytest.mark.django_db


def _books(*, portfolio_id: int, before: date, since: datetime, name: str):
    from portfolio_app.models import NavSnapshot, Portfolio

    navs = NavSnapshot.objects.filter(portfolio_id=OuterRef("pk"))
    return (
        Portfolio.objects.filter(pk=portfolio_id, created_at__gte=since).exclude(name=name)
        .annotate(nav_prev=Subquery(navs.filter(session__lt=before).order_by("-session").values("nav")[:1]),
                  taken=Subquery(navs.order_by("-session").values("taken_at")[:1]))
        .values("cash", "name", "long_short", "nav_prev", "created_at", "taken")
    )


BOOKS = CompiledQuery(_books, portfolio_id=int, before=date, since=datetime, name=str)


@pytest.fixture
def navs(portfolio):
    from portfolio_app.models import NavSnapshot, Portfolio

    other = Portfolio.objects.create(name="Other Book", cash="5.00")
    for i, nav in enumerate(("100.00", "110.50", "99.25")):
        NavSnapshot.objects.create(portfolio=portfolio, session=date(2022, 3, 1 + i), nav=nav, cash="1.00")
    NavSnapshot.objects.create(portfolio=other, session=date(2022, 3, 1), nav="7.00", cash="1.00")
    return portfolio, other


def test_dicts_when_called_with_other_values_then_the_rows_the_orm_gives_for_those_values(navs):
    portfolio, other = navs
    long_ago = datetime(2000, 1, 1, tzinfo=timezone.utc)
    for pid, before, since, name in [
        (portfolio.pk, date(2022, 3, 3), long_ago, "nobody"),
        (portfolio.pk, date(2022, 3, 2), long_ago, "nobody"),
        (portfolio.pk, date(2022, 3, 1), long_ago, "nobody"),  # no NAV before: null
        (other.pk, date(2022, 3, 9), long_ago, "nobody"),
        (other.pk, date(2022, 3, 9), long_ago, "Other Book"),  # excluded: no row
        (portfolio.pk, date(2022, 3, 9), datetime.now(timezone.utc) + timedelta(days=1), "nobody"),  # none since
    ]:
        expected = list(_books(portfolio_id=pid, before=before, since=since, name=name))
        assert BOOKS.dicts(portfolio_id=pid, before=before, since=since, name=name) == expected
    row = BOOKS.dicts(portfolio_id=portfolio.pk, before=date(2022, 3, 3), since=long_ago, name="x")[0]
    assert row["nav_prev"] == Decimal("110.50") and row["cash"] == Decimal("1000000.00")
    assert row["created_at"].tzinfo is not None and row["taken"].tzinfo is not None  # aware, as the ORM gives them


def test_tuples_when_run_then_one_statement_in_the_order_of_values(navs):
    portfolio, _ = navs
    with CaptureQueriesContext(connection) as ctx:
        rows = BOOKS.tuples(portfolio_id=portfolio.pk, before=date(2022, 3, 3), since=datetime(2000, 1, 1, tzinfo=timezone.utc),
                            name="x")
    assert len(ctx.captured_queries) == 1
    assert rows == [tuple(r.values()) for r in _books(portfolio_id=portfolio.pk, before=date(2022, 3, 3),
                                                       since=datetime(2000, 1, 1, tzinfo=timezone.utc), name="x")]


def test_compile_when_a_parameter_is_computed_with_then_refused():
    from portfolio_app.models import Portfolio

    computed = CompiledQuery(lambda *, portfolio_id: Portfolio.objects.filter(pk=portfolio_id + 1).values("name"),
                             portfolio_id=int)
    with pytest.raises(ValueError, match="portfolio_id"):
        computed.dicts(portfolio_id=1)


@pytest.mark.django_db(transaction=True)
def test_tuples_when_a_locking_read_runs_outside_a_transaction_then_refused_as_the_orm_refuses_it(portfolio):
    from portfolio_app.models import Portfolio

    if not connection.features.has_select_for_update:
        pytest.skip("this database does not lock rows (the ORM runs such a read anywhere)")
    locked = CompiledQuery(lambda *, portfolio_id: Portfolio.objects.select_for_update().filter(pk=portfolio_id).values("name"),
                           portfolio_id=int)
    with transaction.atomic():
        assert locked.dicts(portfolio_id=portfolio.pk) == [{"name": "Test Book"}]
    with pytest.raises(TransactionManagementError):
        locked.dicts(portfolio_id=portfolio.pk)


def _with_last_nav(*, portfolio_id: int):
    from portfolio_app.models import NavSnapshot, Portfolio

    navs = NavSnapshot.objects.filter(portfolio_id=OuterRef("pk")).order_by("-session")
    return Portfolio.objects.filter(pk=portfolio_id).annotate(last_nav=Subquery(navs.values("nav")[:1])).values(
        *fields_of(Portfolio), "last_nav")


def test_instances_when_every_column_is_read_then_saved_rows_of_the_model_with_their_annotations(navs):
    from portfolio_app.models import Portfolio

    portfolio, _ = navs
    (got,) = CompiledQuery(_with_last_nav, portfolio_id=int).instances(portfolio_id=portfolio.pk)
    assert isinstance(got, Portfolio) and got.pk == portfolio.pk and not got._state.adding
    assert (got.name, got.cash, got.created_at, got.last_nav) == ("Test Book", Decimal("1000000.00"), portfolio.created_at,
                                                                   Decimal("99.25"))
    got.cash = Decimal("5.00")
    got.save(update_fields=["cash"])
    portfolio.refresh_from_db()
    assert portfolio.cash == Decimal("5.00")


def test_instances_when_a_column_is_not_read_then_refused(navs):
    from portfolio_app.models import Portfolio

    some = CompiledQuery(lambda *, portfolio_id: Portfolio.objects.filter(pk=portfolio_id).values("name"), portfolio_id=int)
    with pytest.raises(ValueError, match="every column"):
        some.instances(portfolio_id=navs[0].pk)


def test_dicts_when_an_integer_is_beyond_any_id_then_no_row_as_the_orm_gives(navs):
    huge = 10**30
    assert BOOKS.dicts(portfolio_id=huge, before=date(2022, 3, 3), since=datetime(2000, 1, 1, tzinfo=timezone.utc),
                       name="x") == []


def test_dicts_when_a_parameter_is_none_then_refused_not_bound_as_text(navs):
    with pytest.raises(ValueError, match="name"):
        BOOKS.dicts(portfolio_id=navs[0].pk, before=date(2022, 3, 3), since=datetime(2000, 1, 1, tzinfo=timezone.utc), name=None)
