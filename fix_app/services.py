"""FIX services: the outbox, session state, sequence resets, reloads and breaks (writes).

The outbox: a venue client writes a ``FixCommand`` (and its ``ClOrdLink``) in the caller's
transaction, and after commit publishes on ``WAKE_CHANNEL`` (Redis pub/sub) so the gateway sends
it at once; the gateway claims what is pending (cancels first), marks it sent in its own committed
transaction, then sends it; the venue's answer on that ClOrdID acknowledges it. A command marked
sent whose answer never came is re-sent with PossResend=Y after a restart (``commands_unacked``).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F
from django.db.models.sql import UpdateQuery
from django.utils import timezone

from desk import roles
from desk.errors import Forbidden, Invalid
from desk.redis import get_redis
from fix_app import mapping
from fix_app.models import ClOrdLink, FixCommand, FixSequenceReset, FixSession, ReconciliationBreak
from orders_app.models import Order, Venue
from desk.bulk import Writes, bound_cursor, rows_update
from risk_app.services.alerts import alert_raise, alert_resolve

log = logging.getLogger("desk.fix")

WAKE_CHANNEL = "desk:fix:wake"
ALERT_KIND = "fix"


def _publish(message: dict) -> None:
    try:
        get_redis().publish(WAKE_CHANNEL, json.dumps(message))
    except Exception:  # the gateway's safety sweep sends it a little later; the command is committed
        log.warning("could not wake the FIX gateway", exc_info=True)


def gateway_wake_on_commit(message: dict) -> None:
    transaction.on_commit(lambda: _publish(message))


# ---------------------------------------------------------------------------
# The outbox


def command_create(*, venue: Venue, order: Order, kind: str, payload: dict, cl_ord_id: str = "") -> FixCommand:
    """Persist one command (and its ClOrdID in the order's chain) and wake the gateway after commit.

    A new order's ClOrdID is its client order id; a cancel or replace gets a new one chained by the
    OrigClOrdID the venue works (the live link); a status request asks about the live one.
    """
    base = order.client_order_id
    orig = ""
    if kind == FixCommand.Kind.NEW:
        cl = cl_ord_id or base
    else:
        live = ClOrdLink.objects.filter(venue=venue, order=order, live=True).values_list("cl_ord_id", flat=True).first() or base
        if kind == FixCommand.Kind.STATUS:
            cl = live
        else:
            n = ClOrdLink.objects.filter(venue=venue, order=order).count()
            cl, orig = f"{base}~{'C' if kind == FixCommand.Kind.CANCEL else 'R'}{n}", live
    if kind == FixCommand.Kind.STATUS:
        payload = {**payload, "status_req_id": uuid.uuid4().hex[:12]}
    payload = {**payload, "orig_cl_ord_id": orig} if orig else payload
    cmd = FixCommand.objects.create(venue=venue, order=order, kind=kind, cl_ord_id=cl, orig_cl_ord_id=orig, payload=payload,
                                    priority=mapping.PRIORITY[kind])
    if kind != FixCommand.Kind.STATUS:
        ClOrdLink.objects.create(venue=venue, cl_ord_id=cl, order=order, orig_cl_ord_id=orig, kind=kind, live=kind == FixCommand.Kind.NEW)
    gateway_wake_on_commit({"kind": "outbox", "venue": venue.code})
    return cmd


def command_new_create(*, venue: Venue, client_order_id: str, payload: dict) -> tuple[int | None, int | None]:
    """A new order's command (ClOrdID = its client order id) and the head of its chain, unless one was written
    before; woken after commit as ``command_create`` is. (The order id or None when the venue has no order
    by that id, the command's id or None when there was one already.)

    On PostgreSQL one statement (it is on every order's way to its venue): the order found, the command and
    its link inserted only when no new order's command has that ClOrdID yet.
    """
    if connection.vendor != "postgresql":
        order = Order.objects.filter(client_order_id=client_order_id, venue=venue).only("id", "client_order_id").first()
        if order is None:
            return None, None
        if FixCommand.objects.filter(venue=venue, cl_ord_id=client_order_id, kind=FixCommand.Kind.NEW).exists():
            return order.pk, None
        cmd = command_create(venue=venue, order=order, kind=FixCommand.Kind.NEW, cl_ord_id=client_order_id, payload=payload)
        return order.pk, cmd.pk
    kind = FixCommand.Kind.NEW
    cmd = FixCommand(venue=venue, kind=kind, cl_ord_id=client_order_id, payload=payload, priority=mapping.PRIORITY[kind])
    link = ClOrdLink(venue=venue, cl_ord_id=client_order_id, kind=kind, live=True)
    q = connection.ops.quote_name
    params: list = [client_order_id, venue.pk]

    def select(obj, source: str) -> tuple[str, str]:
        """The insert's columns, and its select list: ``source``.order_id for the order, the row's values for the rest."""
        cols, sel = [], []
        for f in type(obj)._meta.concrete_fields:
            if f.primary_key:
                continue
            cols.append(q(f.column))
            if f.attname == "order_id":
                sel.append(f"{source}.{'id' if source == 'o' else 'order_id'}")
            else:
                sel.append(f"%s::{f.db_type(connection)}")
                params.append(f.get_db_prep_save(f.pre_save(obj, add=True), connection))
        return ", ".join(cols), ", ".join(sel)

    cmd_cols, cmd_sel = select(cmd, "o")
    params += [venue.pk, client_order_id, kind]
    link_cols, link_sel = select(link, "c")
    sql = (f"WITH o AS (SELECT id FROM {q(Order._meta.db_table)} WHERE client_order_id = %s AND venue_id = %s ORDER BY id LIMIT 1), "
           f"c AS (INSERT INTO {q(FixCommand._meta.db_table)} ({cmd_cols}) SELECT {cmd_sel} FROM o WHERE NOT EXISTS ("
           f"SELECT 1 FROM {q(FixCommand._meta.db_table)} x WHERE x.venue_id = %s AND x.cl_ord_id = %s AND x.kind = %s) "
           f"RETURNING id, order_id), "
           f"l AS (INSERT INTO {q(ClOrdLink._meta.db_table)} ({link_cols}) SELECT {link_sel} FROM c RETURNING id) "
           f"SELECT o.id, (SELECT id FROM c) FROM o")
    with bound_cursor() as cur:
        cur.execute(sql, params)
        row = cur.fetchone()
    if row is None:
        return None, None
    if row[1] is not None:  # the gateway claims it by id (``commands_claim_new``)
        gateway_wake_on_commit({"kind": "outbox", "venue": venue.code, "venue_id": venue.pk, "new": [row[1]]})
    return row[0], row[1]


def cancels_create(*, venue: Venue, orders: list[Order], payloads: list[dict]) -> list[FixCommand]:
    """``command_create`` of an OrderCancelRequest for each of ``orders`` (a kill switch's cancels): the same
    ClOrdIDs and chain, the live links and chain lengths read in one query each, the commands and their links
    inserted in one statement each, the gateway woken once after commit."""
    if not orders:
        return []
    ids = [o.pk for o in orders]
    links = ClOrdLink.objects.filter(venue=venue, order_id__in=ids)
    live = dict(links.filter(live=True).order_by("id").values_list("order_id", "cl_ord_id"))
    counts = dict(links.order_by().values("order_id").annotate(n=Count("id")).values_list("order_id", "n"))
    kind = FixCommand.Kind.CANCEL
    cmds, chain = [], []
    for order, payload in zip(orders, payloads):
        base = order.client_order_id
        orig = live.get(order.pk) or base
        cl = f"{base}~C{counts.get(order.pk, 0)}"
        cmds.append(FixCommand(venue=venue, order=order, kind=kind, cl_ord_id=cl, orig_cl_ord_id=orig,
                               payload={**payload, "orig_cl_ord_id": orig}, priority=mapping.PRIORITY[kind]))
        chain.append(ClOrdLink(venue=venue, cl_ord_id=cl, order=order, orig_cl_ord_id=orig, kind=kind, live=False))
    cmds = FixCommand.objects.bulk_create(cmds)
    ClOrdLink.objects.bulk_create(chain)
    gateway_wake_on_commit({"kind": "outbox", "venue": venue.code})
    return cmds


def commands_withdraw(cmds: list[FixCommand], *, why: str) -> None:
    """``command_withdraw`` of many, in one statement. Caller holds their row locks."""
    if cmds:
        FixCommand.objects.filter(pk__in=[c.pk for c in cmds]).update(state=FixCommand.State.FAILED, last_error=why,
                                                                     updated_at=timezone.now())


def command_withdraw(cmd: FixCommand, *, why: str) -> None:
    """A command that never left (a new order cancelled before it was sent). Caller holds its row lock."""
    cmd.state, cmd.last_error = FixCommand.State.FAILED, why
    cmd.save(update_fields=["state", "last_error", "updated_at"])


class Claimed(list):
    """The commands a claim took; ``held_back``: one of those venues' pending commands waits behind its order's
    new order that was not sent yet (this claim may have sent it: a claim after the sends takes the waiting one)."""

    held_back = False


def _claimed(cmds, held_back: bool) -> Claimed:
    out = Claimed(cmds)
    out.held_back = held_back
    return out


def commands_claim(*, venue_ids: Iterable[int], limit: int = 200, hold_new: Iterable[int] = (),
                   venues: Mapping[int, Venue] | None = None) -> Claimed:
    """Pending commands of the given venues, marked sent (committed) before the caller sends them.

    Cancels first, then replaces, status requests and new orders (``mapping.PRIORITY``); a command
    about an order whose NewOrderSingle has not gone out yet waits for the next claim. New orders for
    the venues in ``hold_new`` (being reconciled) wait; their cancels, replaces and status requests go.
    Each command comes with its venue (from ``venues`` when given) and its order's client order id,
    portfolio and parent (the rest of the order is read if asked for).
    """
    venue_ids = list(venue_ids)
    hold_new = list(hold_new)
    if not venue_ids:
        return Claimed()
    if connection.vendor == "postgresql":
        return _claim_pg(venue_ids, limit, hold_new, venues)
    with transaction.atomic():
        qs = FixCommand.objects.filter(state=FixCommand.State.PENDING, venue_id__in=venue_ids)
        if hold_new:
            qs = qs.exclude(kind=FixCommand.Kind.NEW, venue_id__in=hold_new)
        rows = list(qs.select_for_update(skip_locked=True, of=("self",)).select_related("venue", "order").order_by("priority", "id")[:limit])
        if not rows:
            return Claimed()
        others = [c.order_id for c in rows if c.kind != FixCommand.Kind.NEW]
        unsent = set(FixCommand.objects.filter(state=FixCommand.State.PENDING, kind=FixCommand.Kind.NEW, order_id__in=others)
                     .values_list("order_id", flat=True)) if others else set()
        take = [c for c in rows if c.kind == FixCommand.Kind.NEW or c.order_id not in unsent]
        now = timezone.now()
        FixCommand.objects.filter(pk__in=[c.pk for c in take]).update(state=FixCommand.State.SENT, sent_at=now,
                                                                      attempts=F("attempts") + 1)
        for c in take:
            c.state, c.sent_at, c.attempts = FixCommand.State.SENT, now, c.attempts + 1
    return _claimed(take, len(take) < len(rows))


_CLAIM_PG = """
WITH c AS (
    UPDATE {t} SET state = 'sent', sent_at = %s, attempts = attempts + 1, updated_at = %s
    WHERE id IN (
        SELECT c.id FROM {t} c
        WHERE c.state = 'pending' AND c.venue_id = ANY(%s) AND NOT (c.kind = 'new' AND c.venue_id = ANY(%s::bigint[]))
          AND (c.kind = 'new' OR NOT EXISTS (
              SELECT 1 FROM {t} n WHERE n.order_id = c.order_id AND n.kind = 'new' AND n.state = 'pending'))
        ORDER BY c.priority, c.id LIMIT %s FOR UPDATE SKIP LOCKED)
    RETURNING {cols})
SELECT c.*, {head}, EXISTS (
    SELECT 1 FROM {t} w WHERE w.state = 'pending' AND w.kind <> 'new' AND w.venue_id = ANY(%s) AND EXISTS (
        SELECT 1 FROM {t} n WHERE n.order_id = w.order_id AND n.kind = 'new' AND n.state = 'pending'))
FROM c JOIN {o} o ON o.id = c.order_id ORDER BY c.priority, c.id"""

# What the gateway needs of a command's order, in the model's field order (``Model.from_db`` reads them so).
_ORDER_HEAD = [f.attname for f in Order._meta.concrete_fields if f.attname in ("id", "client_order_id", "portfolio_id", "parent_id")]


def _claim_pg(venue_ids: list[int], limit: int, hold_new: list[int], venues: Mapping[int, Venue] | None) -> Claimed:
    """``commands_claim`` in one statement (the claim is on the path of every order to its venue): the commands
    claimed, with their orders' heads."""
    now = timezone.now()
    fields = [f for f in FixCommand._meta.concrete_fields]
    q = connection.ops.quote_name
    sql = _CLAIM_PG.format(t=q(FixCommand._meta.db_table), o=q(Order._meta.db_table), cols=", ".join(q(f.column) for f in fields),
                           head=", ".join(f"o.{q(Order._meta.get_field(a).column)}" for a in _ORDER_HEAD))
    with bound_cursor() as cur:
        cur.execute(sql, [now, now, venue_ids, hold_new, limit, venue_ids])
        rows = cur.fetchall()
    if not rows:
        return Claimed()
    out = _commands_of(rows, fields, venues)
    # Seen as the statement began (its own writes unseen): the commands it held back behind a new order not sent yet.
    return _claimed(out, bool(rows[0][-1]))


_CLAIM_NEW_PG = """
UPDATE {t} AS c SET state = 'sent', sent_at = %s, attempts = c.attempts + 1, updated_at = %s
FROM {o} AS o WHERE c.id = ANY(%s) AND c.state = 'pending' AND c.kind = 'new' AND c.venue_id = ANY(%s) AND o.id = c.order_id
RETURNING {cols}, {head}"""


def commands_claim_new(*, ids: Iterable[int], venue_ids: Iterable[int], venues: Mapping[int, Venue]) -> Claimed:
    """The new orders ``ids`` (a wake-up names them) claimed as ``commands_claim`` claims them: marked sent, committed,
    before the caller sends them; of the given venues only. A new order waits behind nothing, so no other command
    need be read: on PostgreSQL one statement in autocommit, the commands' orders' heads with them."""
    ids, venue_ids = list(ids), list(venue_ids)
    if not ids or not venue_ids:
        return Claimed()
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return commands_claim(venue_ids=venue_ids, venues=venues)
    now = timezone.now()
    fields = [f for f in FixCommand._meta.concrete_fields]
    q = connection.ops.quote_name
    sql = _CLAIM_NEW_PG.format(t=q(FixCommand._meta.db_table), o=q(Order._meta.db_table),  # nosec B608 - identifiers from model metadata
                               cols=", ".join(f"c.{q(f.column)}" for f in fields),
                               head=", ".join(f"o.{q(Order._meta.get_field(a).column)}" for a in _ORDER_HEAD))
    with bound_cursor() as cur:
        cur.execute(sql, [now, now, ids, venue_ids])
        rows = sorted(cur.fetchall(), key=lambda r: r[0])
    return _claimed(_commands_of(rows, fields, venues), False)


def _commands_of(rows, fields, venues: Mapping[int, Venue] | None) -> list[FixCommand]:
    """Commands (with their venue, and their order's head as ``order``) from rows of their columns then the head's."""
    converters = [(i, f.from_db_value) for i, f in enumerate(fields) if hasattr(f, "from_db_value")]
    out = []
    missing = {r[[f.attname for f in fields].index("venue_id")] for r in rows} - set(venues or {})
    known = dict(venues or {}) | (Venue.objects.in_bulk(missing) if missing else {})
    n = len(fields)
    for r in rows:
        values = list(r[:n])
        for i, conv in converters:
            values[i] = conv(values[i], None, connection)
        cmd = FixCommand.from_db(connection.alias, [f.attname for f in fields], values)
        cmd.venue = known[cmd.venue_id]
        cmd.order = Order.from_db(connection.alias, _ORDER_HEAD, list(r[n:n + len(_ORDER_HEAD)]))
        out.append(cmd)
    return out


def commands_unacked(*, venue_id: int) -> list[FixCommand]:
    """Commands sent to the venue that it never answered: re-sent with PossResend=Y after a restart."""
    return list(FixCommand.objects.select_related("venue").filter(venue_id=venue_id, state=FixCommand.State.SENT).order_by("priority", "id"))


def command_resent(cmd: FixCommand) -> None:
    FixCommand.objects.filter(pk=cmd.pk).update(attempts=F("attempts") + 1, sent_at=timezone.now())


def commands_sent_as(sent: list[tuple[int, int]]) -> None:
    """The MsgSeqNum each command went out with (a session Reject names it): one statement for a batch."""
    if sent:
        rows_update(FixCommand, [FixCommand(pk=pk, seq_num=seq) for pk, seq in sent], ["seq_num"])


def commands_ack(*, venue: Venue, cl_ord_id: str, status: bool) -> None:
    """The venue answered ``cl_ord_id``: its command is acknowledged (a status answer acknowledges one status request)."""
    now = timezone.now()
    if status:  # and the venue knows the order by it: whatever we sent on that ClOrdID arrived
        cmd = FixCommand.objects.filter(venue=venue, cl_ord_id=cl_ord_id, kind=FixCommand.Kind.STATUS,
                                        state=FixCommand.State.SENT).order_by("id").first()
        if cmd is not None:
            FixCommand.objects.filter(pk=cmd.pk).update(state=FixCommand.State.ACKED, acked_at=now)
    FixCommand.objects.filter(venue=venue, cl_ord_id=cl_ord_id, state=FixCommand.State.SENT).exclude(kind=FixCommand.Kind.STATUS) \
        .update(state=FixCommand.State.ACKED, acked_at=now)


def commands_ack_many(*, venue: Venue, cl_ord_ids: Iterable[str], writes: Writes | None = None) -> None:
    """``commands_ack`` (not of status requests) for many ClOrdIDs at once: one statement (made with ``writes``
    when given)."""
    acked = FixCommand.objects.filter(venue=venue, cl_ord_id__in=list(cl_ord_ids), state=FixCommand.State.SENT) \
        .exclude(kind=FixCommand.Kind.STATUS)
    values = {"state": FixCommand.State.ACKED, "acked_at": timezone.now()}
    if writes is None:
        acked.update(**values)
        return
    query = acked.query.chain(UpdateQuery)
    query.add_update_values(values)
    sql, params = query.get_compiler(connection.alias).as_sql()
    writes.statement(sql, params, otherwise=lambda: acked.update(**values))


def command_by_seq(*, venue: Venue, seq_num: int) -> FixCommand | None:
    return FixCommand.objects.filter(venue=venue, seq_num=seq_num).order_by("-id").first()


def command_fail(cmd: FixCommand, *, why: str) -> None:
    FixCommand.objects.filter(pk=cmd.pk).update(state=FixCommand.State.FAILED, last_error=why[:2000])


def link_live(*, venue: Venue, cl_ord_id: str) -> None:
    """A replace confirmed: ``cl_ord_id`` is the one the venue works now."""
    link = ClOrdLink.objects.filter(venue=venue, cl_ord_id=cl_ord_id).first()
    if link is not None:
        ClOrdLink.objects.filter(order_id=link.order_id, venue=venue).exclude(pk=link.pk).update(live=False)
        ClOrdLink.objects.filter(pk=link.pk).update(live=True)


def link_find(*, venue: Venue, cl_ord_id: str, orig_cl_ord_id: str = "") -> ClOrdLink | None:
    """The chain entry for a report's ClOrdID, else its OrigClOrdID: any ClOrdID of the chain finds the order."""
    for key in (cl_ord_id, orig_cl_ord_id):
        if key:
            link = ClOrdLink.objects.filter(venue=venue, cl_ord_id=key).first()
            if link is not None:
                return link
    return None


def links_find(*, keys: Iterable[tuple[int, str]]) -> dict[tuple[int, str], int]:
    """(venue id, ClOrdID) -> order id for those of ``keys`` in a chain: one query."""
    keys = set(keys)
    if not keys:
        return {}
    rows = ClOrdLink.objects.filter(venue_id__in={v for v, _ in keys}, cl_ord_id__in={c for _, c in keys}) \
        .values_list("venue_id", "cl_ord_id", "order_id")
    return {(v, c): o for v, c, o in rows if (v, c) in keys}


# ---------------------------------------------------------------------------
# Sessions


def fix_venues() -> list[Venue]:
    """The FIX venues the gateway runs a session for: enabled, of kind fix, with a host and port."""
    return list(Venue.objects.filter(kind=Venue.Kind.FIX, enabled=True).exclude(fix_host="").exclude(fix_port__isnull=True).order_by("code"))


def settings_digest(venues: Iterable[Venue]) -> str:
    return mapping.settings_digest([
        {k: getattr(v, k) for k in ("code", "fix_begin_string", "fix_sender_comp_id", "fix_target_comp_id", "fix_host", "fix_port",
                                    "fix_heartbeat_s")} for v in venues
    ])


def journal_applied(*, offsets: dict[int, tuple[int, int]]) -> None:
    """The gateway's journals applied up to these (generation, offset), by venue id: in the transaction that applied them."""
    for venue_id, (gen, offset) in offsets.items():
        FixSession.objects.filter(venue_id=venue_id).update(journal_gen=gen, journal_offset=offset)


def session_get(*, venue: Venue) -> FixSession:
    return FixSession.objects.get_or_create(venue=venue)[0]


def sessions_loaded(*, venues: list[Venue], digest: str) -> None:
    """The gateway (re)started its sessions with these settings, now; each is down until it logs on."""
    now = timezone.now()
    for v in venues:
        s, _ = FixSession.objects.get_or_create(venue=v)
        s.loaded_at, s.settings_digest, s.logged_on = now, digest, False
        s.down_since = s.down_since or now
        s.save(update_fields=["loaded_at", "settings_digest", "logged_on", "down_since", "updated_at"])


def _alert_key(venue: Venue) -> str:
    return f"fix:session:{venue.code}"


def session_logged_on(*, venue: Venue, sender: int | None, target: int | None) -> None:
    s, _ = FixSession.objects.get_or_create(venue=venue)
    s.logged_on, s.down_since, s.next_sender_seq, s.next_target_seq = True, None, sender, target
    s.save(update_fields=["logged_on", "down_since", "next_sender_seq", "next_target_seq", "updated_at"])
    alert_resolve(key=_alert_key(venue))


def session_logged_out(*, venue: Venue, sender: int | None, target: int | None, error: str = "") -> None:
    s, _ = FixSession.objects.get_or_create(venue=venue)
    if s.logged_on or s.down_since is None:
        s.down_since = timezone.now()
    s.logged_on, s.next_sender_seq, s.next_target_seq = False, sender, target
    s.last_error = error or s.last_error
    s.save(update_fields=["logged_on", "down_since", "next_sender_seq", "next_target_seq", "last_error", "updated_at"])


def session_seq_update(*, venue: Venue, sender: int | None, target: int | None) -> None:
    FixSession.objects.filter(venue=venue).exclude(next_sender_seq=sender, next_target_seq=target) \
        .update(next_sender_seq=sender, next_target_seq=target, updated_at=timezone.now())


def session_error(*, venue: Venue, error: str) -> None:
    FixSession.objects.filter(venue=venue).update(last_error=error[:2000], updated_at=timezone.now())


def sessions_check_down() -> list[str]:
    """Alert on every session down for longer than ``DESK_FIX_SESSION_DOWN_ALERT_S``; the venue codes alerted."""
    limit = float(getattr(settings, "DESK_FIX_SESSION_DOWN_ALERT_S", 60.0))
    cutoff = timezone.now() - timedelta(seconds=limit)
    out = []
    for s in FixSession.objects.select_related("venue").filter(logged_on=False, down_since__lte=cutoff, venue__enabled=True,
                                                               venue__kind=Venue.Kind.FIX):
        alert_raise(kind=ALERT_KIND, key=_alert_key(s.venue), severity="critical",
                    message=f"FIX session to {s.venue.code} down since {s.down_since:%Y-%m-%d %H:%M:%S} UTC"
                            + (f": {s.last_error}" if s.last_error else ""))
        out.append(s.venue.code)
    return out


def fix_sessions_reload() -> None:
    """Ask the gateway to restart its sessions after commit (a venue's session settings were edited).

    The gateway also notices an edit by itself (a fingerprint of the settings) within a few seconds.
    """
    gateway_wake_on_commit({"kind": "reload"})


@transaction.atomic
def fix_sequence_reset(*, venue: Venue, actor, reason: str, next_sender_seq: int = 1, next_target_seq: int = 1) -> FixSequenceReset:
    """An admin resets a session's sequence numbers: recorded (who, when, why), applied by the gateway.

    Sessions run with ResetOnLogon=N, so this is the only way sequence numbers go back; the counterparty
    must be told out of band to do the same.
    """
    if actor is None or not roles.is_admin(actor):
        raise Forbidden("Only an admin may reset a FIX session's sequence numbers.")
    if venue.kind != Venue.Kind.FIX:
        raise Invalid(f"{venue.code} is not a FIX venue.", field_errors={"venue": "Not a FIX venue."})
    if not (reason or "").strip():
        raise Invalid("Say why the sequence numbers are reset.", field_errors={"reason": "Required."})
    if next_sender_seq < 1 or next_target_seq < 1:
        raise Invalid("Sequence numbers start at 1.", field_errors={"next_sender_seq": "At least 1."})
    reset = FixSequenceReset.objects.create(venue=venue, actor=actor, reason=reason.strip(), next_sender_seq=next_sender_seq,
                                            next_target_seq=next_target_seq)
    gateway_wake_on_commit({"kind": "reset", "id": reset.pk})
    return reset


def sequence_resets_pending() -> list[FixSequenceReset]:
    return list(FixSequenceReset.objects.select_related("venue").filter(applied_at__isnull=True).order_by("id"))


def sequence_reset_applied(reset: FixSequenceReset, *, before: dict) -> None:
    FixSequenceReset.objects.filter(pk=reset.pk).update(applied_at=timezone.now(), before=before)


# ---------------------------------------------------------------------------
# Breaks


def break_record(*, venue: Venue, kind: str, detail: dict, order: Order | None = None, resolution: str = "",
                 severity: str = "warning", run=None) -> ReconciliationBreak:
    """Record a break (found by ``run``, if by a reconciliation run) and alert on it; a break that is already
    settled (a bust applied) is recorded resolved."""
    brk = ReconciliationBreak.objects.create(venue=venue, kind=kind, detail=detail, order=order, resolution=resolution,
                                             resolved_at=timezone.now() if resolution else None, run=run)
    what = dict(ReconciliationBreak.Kind.choices).get(kind, kind)
    ref = order.client_order_id if order is not None else detail.get("cl_ord_id", "?")
    alert_raise(kind=ALERT_KIND, key=f"fix:break:{brk.pk}", severity=severity,
                message=f"{venue.code}: {what} on {ref}: {detail.get('why', '')}".strip().rstrip(":"))
    return brk


__all__ = [
    "WAKE_CHANNEL", "break_record", "command_create", "commands_ack", "commands_claim", "commands_unacked", "fix_sequence_reset",
    "fix_sessions_reload", "fix_venues", "sessions_check_down", "sessions_loaded",
]
