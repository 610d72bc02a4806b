"""Demo price-bar load (rows/s) vs a raw bulk insert of the same rows in the same run
(COPY on PostgreSQL, executemany on SQLite), each into an empty table."""

from __future__ import annotations

import time

from django.db import connection, transaction


def _raw_insert(rows) -> float:
    from market_app.models import PriceBar

    table = PriceBar._meta.db_table
    t0 = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cur:
        if connection.vendor == "postgresql":
            with cur.cursor.copy(f"COPY {table} (instrument_id, date, close) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(r)
        else:
            cur.executemany(f"INSERT INTO {table} (instrument_id, date, close) VALUES (%s, %s, %s)", [(i, d, str(c)) for i, d, c in rows])
    return time.perf_counter() - t0


def run():
    from ops_app import demo
    from market_app.models import PriceBar

    prices, index = demo.price_frames()
    demo.instruments_ensure()
    _, ids = demo.instruments_ensure()
    frame = prices.copy()
    frame[demo.INDEX_SYMBOL] = index.iloc[:, 0]
    rows = list(demo.price_bar_rows(frame, ids))

    saved = list(PriceBar.objects.values_list("instrument_id", "date", "close"))
    try:
        PriceBar.objects.all().delete()
        t0 = time.perf_counter()
        with transaction.atomic():
            n = demo.price_bars_ensure(prices, index, ids)
        t_load = time.perf_counter() - t0
        PriceBar.objects.all().delete()
        t_raw = _raw_insert(rows)
    finally:
        PriceBar.objects.all().delete()
        if saved:
            _raw_insert(saved)
    ref = "COPY" if connection.vendor == "postgresql" else "executemany"
    return [
        {"name": "demo.price_bars_load", "value": n / t_load, "unit": "rows/s", "ratio": round(t_raw / t_load, 3), "ref": f"raw {ref} of the same {n} rows", "note": f"{t_load:.2f}s vs {t_raw:.2f}s ({connection.vendor})"},
    ]
