"""Writes of the end-of-day reports: generate (at the close, once per session and scope; on demand, a new
version), and prune past the retention.

- ``eod_day_get_or_create`` freezes what "the day" of a session is, once (``EodSession``).
- ``eod_report_generate`` writes one report version of one scope, its content hashed; nothing ever updates it.
- ``eod_reports_close`` (beat): every scope's report of the last closed session, if it has none yet.
- ``check_eod_request`` / ``eod_report_request``: an on-demand regeneration from the page or the API.
- ``eod_reports_prune``: keep the reports of the newest ``DESK_EOD_KEEP_SESSIONS`` sessions.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from desk import roles
from desk.errors import Forbidden, Invalid
from desk.clock import session_table
from market_app.clock import get_clock
from ops_app.eod import core
from ops_app.eod.content import report_content
from ops_app.eod.fmt import Day
from ops_app.eod.models import EodReport, EodSession

log = logging.getLogger(__name__)
DESK_KEY = "desk"


def _wall_end(clock, close: datetime) -> datetime:
    """The wall instant the desk's market reached ``close``: exact on a replayed clock (``wall_at``), the
    close itself on the wall clock, else (a clock moved by hand) now, the first moment it is seen closed."""
    from desk.clock import WallClock

    wall_at = getattr(clock, "wall_at", None)
    if wall_at is not None:
        try:
            return min(wall_at(close), timezone.now())
        except ValueError:
            pass
    if isinstance(clock, WallClock):
        return close
    return timezone.now()


def eod_day_get_or_create(*, session: date) -> EodSession:
    """The day of ``session``, frozen at its first report: market open and close, and the wall-time window
    (from the previous day's end) that every scope and version of its reports reads audit rows from."""
    day = EodSession.objects.filter(session=session).first()
    if day is not None:
        return day
    table = session_table()
    i = table.position(session)
    clock = get_clock()
    prev = EodSession.objects.filter(session__lt=session).order_by("-session").first()
    wall_end = _wall_end(clock, table.closes[i])
    wall_start = prev.wall_end if prev is not None else None
    if wall_start is None and i > 0 and getattr(clock, "wall_at", None) is not None:
        try:
            wall_start = clock.wall_at(table.closes[i - 1])
        except ValueError:
            wall_start = None
    if wall_start is not None and wall_start >= wall_end:
        wall_start = None
    try:
        with transaction.atomic():
            return EodSession.objects.create(session=session, market_open=table.opens[i], market_close=table.closes[i],
                                             wall_start=wall_start, wall_end=wall_end)
    except IntegrityError:  # another process froze it first: theirs holds
        return EodSession.objects.get(session=session)


def _bad(field: str, reason: str) -> Invalid:
    return Invalid(f"{field}: {reason}", field_errors={field: reason})


def _scope_of(portfolio) -> tuple[str, str]:
    return ("portfolio", f"portfolio:{portfolio.pk}") if portfolio is not None else ("desk", DESK_KEY)


def eod_report_generate(*, session: date, portfolio=None, trigger: str = EodReport.Trigger.CLOSE, actor=None,
                        only_if_none: bool = False) -> EodReport | None:
    """Write the next version of the report of ``portfolio`` (None: the desk) for ``session``.

    ``only_if_none``: the close's run: write version 1 only, nothing when one exists (a redelivered or
    concurrent run writes nothing: the unique (scope, session, version) decides). Returns the report written.
    """
    from portfolio_app.models import Portfolio

    scope, key = _scope_of(portfolio)
    if only_if_none and EodReport.objects.filter(scope_key=key, session=session).exists():
        return None
    day = eod_day_get_or_create(session=session)
    d = Day(session=day.session, market_open=day.market_open, market_close=day.market_close,
            wall_start=day.wall_start, wall_end=day.wall_end)
    # Read afresh: the caller's instance may hold a cash figure from before the day's fills.
    portfolios = list(Portfolio.objects.filter(pk=portfolio.pk) if portfolio is not None else Portfolio.objects.order_by("name"))
    content = report_content(portfolios=portfolios, day=d, scope=scope, scope_key=key,
                             label=portfolio.name if portfolio is not None else "Desk")
    digest = core.content_hash(content)
    for _ in range(3):
        last = EodReport.objects.filter(scope_key=key, session=session).order_by("-version").values_list("version", flat=True).first()
        if only_if_none and last is not None:
            return None
        try:
            with transaction.atomic():
                return EodReport.objects.create(
                    day=day, session=session, scope=scope, scope_key=key, portfolio=portfolio, version=(last or 0) + 1,
                    trigger=trigger, requested_by=actor, content=content, content_hash=digest,
                )
        except IntegrityError:
            continue  # a concurrent writer took that version: the close's run stops, a regeneration takes the next
    raise RuntimeError(f"could not write the EOD report of {key} for {session}")


def eod_reports_close() -> int:
    """Beat: the reports of the last closed session for the desk and every portfolio, each once; then prune."""
    from portfolio_app.models import Portfolio

    session = get_clock().last_closed_session()
    if session is None:
        return 0
    made = 0
    for portfolio in [None, *Portfolio.objects.order_by("name")]:
        try:
            if eod_report_generate(session=session, portfolio=portfolio, only_if_none=True) is not None:
                made += 1
        except Exception:  # one book without a mark must not keep the others' reports from being written
            log.exception("EOD report not written", extra={"session": session.isoformat(),
                                                           "scope": _scope_of(portfolio)[1]})
    if made:
        log.info("EOD reports of %s: %d written", session, made)
    eod_reports_prune()
    return made


def may_read_scope(user, scope_key: str) -> bool:
    """Traders read their portfolios' reports; risk officers and admins every one (the desk's too)."""
    if roles.sees_all_portfolios(user):
        return True
    if not roles.is_trader(user) or not scope_key.startswith("portfolio:"):
        return False
    from portfolio_app.models import Portfolio

    return Portfolio.objects.filter(pk=int(scope_key.split(":", 1)[1]), traders=user).exists()


def check_eod_request(*, user, portfolio_id=None, session=None) -> tuple[object, date]:
    """Validate an on-demand request: (portfolio or None for the desk, session). Raises ``Invalid`` naming
    the field, or ``Forbidden``."""
    from portfolio_app.models import Portfolio

    if not (roles.is_trader(user) or roles.sees_all_portfolios(user)):
        raise Forbidden("Only desk users ask for end-of-day reports.")
    portfolio = None
    if portfolio_id not in (None, ""):
        try:
            pid = int(portfolio_id)
        except (TypeError, ValueError):
            raise _bad("portfolio", "A portfolio id (a number) is required.") from None
        portfolio = Portfolio.objects.filter(pk=pid).first() if 0 < pid < 2**31 else None
        if portfolio is None:
            raise _bad("portfolio", f"There is no portfolio {portfolio_id}.")
    key = _scope_of(portfolio)[1]
    if not may_read_scope(user, key):
        raise Forbidden("Traders ask for the reports of their own portfolios only." if portfolio is not None
                        else "The desk's report is for risk officers and admins.")
    last = get_clock().last_closed_session()
    if session in (None, ""):
        if last is None:
            raise _bad("session", "No session has closed yet.")
        return portfolio, last
    try:
        day = session if isinstance(session, date) else date.fromisoformat(str(session))
    except ValueError:
        raise _bad("session", "A date (YYYY-MM-DD) is required.") from None
    table = session_table()
    if day not in table.index:
        raise _bad("session", f"{day.isoformat()} is not a trading session.")
    if last is None or day > last:
        raise _bad("session", f"The session of {day.isoformat()} has not closed yet.")
    return portfolio, day


def eod_report_request(*, user, portfolio_id=None, session=None) -> EodReport:
    """On demand: a new version of the report (version 1 if the session has none yet)."""
    portfolio, day = check_eod_request(user=user, portfolio_id=portfolio_id, session=session)
    return eod_report_generate(session=day, portfolio=portfolio, trigger=EodReport.Trigger.ON_DEMAND, actor=user)


def eod_reports_prune(*, keep: int | None = None) -> int:
    """Delete the reports of every session older than the newest ``keep`` sessions that have reports
    (``DESK_EOD_KEEP_SESSIONS``, default 90), and their days. Returns the reports deleted."""
    keep = int(settings.DESK_EOD_KEEP_SESSIONS if keep is None else keep)
    if keep <= 0:
        return 0
    sessions = list(EodReport.objects.order_by("-session").values_list("session", flat=True).distinct()[: keep + 1])
    if len(sessions) <= keep:
        return 0
    cutoff = sessions[keep - 1]
    with transaction.atomic():
        n, _ = EodReport.objects.filter(session__lt=cutoff).delete()
        EodSession.objects.filter(session__lt=cutoff, reports__isnull=True).delete()
    log.info("EOD reports before %s pruned: %d", cutoff, n)
    return n
