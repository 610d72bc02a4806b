"""``manage.py import_prices``: bulk, all or nothing, bad rows named by line, field and reason."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from market_app.models import Instrument, PriceBar
from market_app.prices import PriceImportError, price_bars_import, rows_from_frame


@pytest.fixture
def instruments(db):
    Instrument.objects.bulk_create([Instrument(symbol="AAA"), Instrument(symbol="BBB")])


def write(tmp_path, text: str):
    path = tmp_path / "closes.csv"
    path.write_text(text)
    return str(path)


def test_import_prices_when_file_good_then_every_bar_stored_and_rerun_updates(instruments, tmp_path, capsys):
    path = write(tmp_path, "symbol,date,close\nAAA,2022-01-03,10.5\naaa,2022-01-04,10.75\nBBB,2022-01-03,0.1234567\n")
    call_command("import_prices", path)
    assert "Imported 3 closes for 2 instrument(s): 3 new, 0 updated" in capsys.readouterr().out
    assert PriceBar.objects.get(instrument__symbol="BBB").close == Decimal("0.123457")  # 6 places, half-even

    call_command("import_prices", write(tmp_path, "date,close,symbol\n2022-01-03,11,AAA\n"))
    assert "0 new, 1 updated" in capsys.readouterr().out
    assert PriceBar.objects.get(instrument__symbol="AAA", date=date(2022, 1, 3)).close == Decimal("11")


def test_import_prices_when_rows_bad_then_command_error_naming_each_and_nothing_stored(instruments, tmp_path):
    path = write(tmp_path, (
        "symbol,date,close\n"
        "AAA,2022-01-03,10\n"
        "AAA,2022-13-01,10\n"      # line 3: no month 13
        "BBB,2022-01-03,-1\n"      # line 4: not positive
        "BBB,2022-01-04,abc\n"     # line 5: not a number
        "ZZZ,2022-01-04,5\n"       # line 6: unknown instrument
        "AAA,2022-01-03,10.1\n"    # line 7: duplicate of line 2
        ",2022-01-05,3\n"          # line 8: no symbol
    ))
    with pytest.raises(CommandError) as err:
        call_command("import_prices", path)
    text = str(err.value)
    assert "6 bad row(s), nothing imported" in text
    for expected in ("line 3: date", "line 4: close", "line 5: close", "line 6: symbol: unknown instrument 'ZZZ'",
                     "line 7: date: AAA 2022-01-03 already given on line 2", "line 8: symbol: is empty"):
        assert expected in text
    assert not PriceBar.objects.exists()


def test_import_prices_when_header_or_file_wrong_then_command_error(instruments, tmp_path):
    with pytest.raises(CommandError, match="missing column"):
        call_command("import_prices", write(tmp_path, "ticker,day,px\nAAA,2022-01-03,1\n"))
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_prices", str(tmp_path / "nope.csv"))


def test_import_prices_when_unknown_symbol_and_create_flag_then_instrument_created(instruments, tmp_path):
    call_command("import_prices", write(tmp_path, "symbol,date,close\nNEW,2022-01-03,1\n"), "--create-instruments")
    assert PriceBar.objects.filter(instrument__symbol="NEW").count() == 1


def test_rows_from_frame_when_wide_or_long_then_imported_and_bad_cells_named(instruments):
    wide = pd.DataFrame({"AAA": [1.0, float("nan")], "BBB": [2.0, 2.5]}, index=pd.to_datetime(["2022-01-03", "2022-01-04"]))
    rows, errors = rows_from_frame(wide)
    assert errors == [] and price_bars_import(rows=rows).rows == 3  # NaN is "no bar"

    long = pd.DataFrame({"symbol": ["AAA", "BBB"], "date": ["2022-01-05", "2022-01-05"], "close": [1.0, 0.0]})
    rows, errors = rows_from_frame(long)
    with pytest.raises(PriceImportError) as err:
        price_bars_import(rows=rows, errors=errors)
    assert [str(e) for e in err.value.errors] == ["line 3: close: 0.0 is not a positive price"]
    assert PriceBar.objects.count() == 3
