"""A pyinstrument profile of the order path in one process: submit (``order_place``), then the routing
task's work (``order_route`` with the due slices worked inline: slice, route, gate's slice check, venue,
fill), for ``N`` IMMEDIATE market orders on a fresh book of the demo desk. Prints pyinstrument's text
summary of each part and writes the HTML next to it.

    python -m config.launcher exec -- python -m bench.profile_order_path [N] [OUTDIR]

Not a benchmark of ``make bench`` (its name does not start with ``bench_``): the profiler's overhead
inflates the times; read it for where the time goes.
"""

from __future__ import annotations

import os
import sys
import uuid
from decimal import Decimal
from pathlib import Path


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from pyinstrument import Profiler

    from bench.bench_orders import cleanup, make_books
    from desk import roles
    from django.contrib.auth import get_user_model
    from ops_app.accounts import desk_user_create
    from orders_app.services import order_place
    from orders_app.working import order_route

    n = int(argv[0]) if argv else 200
    out = Path(argv[1] if len(argv) > 1 else "var/profiles")
    out.mkdir(parents=True, exist_ok=True)
    user, _, _ = desk_user_create(username=f"profile-{uuid.uuid4().hex[:6]}", role=roles.TRADER)
    books = make_books(4, user)
    symbols = ["AAPL", "MSFT", "KO", "PFE"]
    try:
        def place(i):  # spread over the books: each stays under the per-portfolio order-rate limit
            return order_place(user=user, portfolio_id=books[i % 4].pk, symbol=symbols[i % 4], side="BUY",
                               quantity=Decimal(100 + i))

        warm = [place(i) for i in range(8)]  # per-process caches (limits engine, marks, calendar)
        for o in warm:
            order_route(parent_id=o.pk, work_due_inline=True)
        submit = Profiler(interval=0.0005)
        submit.start()
        orders = [place(10 + i) for i in range(n)]
        submit.stop()
        route = Profiler(interval=0.0005)
        route.start()
        for o in orders:
            order_route(parent_id=o.pk, work_due_inline=True)
        route.stop()
        for name, prof in (("submit", submit), ("route_and_fill", route)):
            print(f"==== {name}: {n} orders ====")
            print(prof.output_text(unicode=False, color=False, show_all=False, timeline=False))
            (out / f"order_path_{name}.html").write_text(prof.output_html())
    finally:
        for b in books:
            cleanup(b.pk)
        get_user_model().objects.filter(pk=user.pk).delete()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
