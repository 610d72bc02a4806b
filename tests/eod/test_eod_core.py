"""The report's pure core: the content hash and the CSV (no database)."""

from __future__ import annotations

import copy

import pytest

from ops_app.eod import core


def _content():
    meta = {k: f"m-{k}" for k in core.META_FIELDS}
    summary = {k: str(i) for i, k in enumerate(core.SUMMARY_FIELDS)}
    tables = {k: [{c: f"{k}-{c}-{i}" for c in cols} for i in range(2)] for k, _, cols in core.TABLES}
    tables["fills"][0]["symbol"] = 'BRK "B", class\nB'  # quotes, commas and newlines survive the CSV
    tables["denied"] = []
    return {"format": core.FORMAT, "meta": meta, "summary": summary, "tables": tables}


def test_to_csv_when_parsed_back_then_same_content_and_report_fields():
    content = _content()
    text = core.to_csv(content, report={"version": "2", "content_hash": core.content_hash(content)})
    report, back = core.from_csv(text)
    assert back == content
    assert report == {"version": "2", "content_hash": core.content_hash(content)}
    assert core.content_hash(back) == core.content_hash(content)


def test_content_hash_when_key_order_differs_then_same_and_when_a_figure_changes_then_different():
    content = _content()
    shuffled = {"tables": content["tables"], "summary": dict(reversed(list(content["summary"].items()))),
                "meta": content["meta"], "format": content["format"]}
    assert core.content_hash(shuffled) == core.content_hash(content)
    changed = copy.deepcopy(content)
    changed["summary"]["nav"] = "1.01"
    assert core.content_hash(changed) != core.content_hash(content)


def test_check_content_when_a_value_is_not_a_string_then_refused():
    content = _content()
    core.check_content(content)
    content["tables"]["positions"][0]["quantity"] = 5
    with pytest.raises(ValueError, match="positions"):
        core.check_content(content)


def test_from_csv_when_a_table_lost_a_column_then_refused():
    content = _content()
    text = core.to_csv(content, report={}).replace("portfolio,symbol,quantity,avg_cost", "portfolio,symbol,quantity", 1)
    with pytest.raises(ValueError):
        core.from_csv(text)
