"""``manage.py compare RUN RUN...``: stored scenario runs' metrics side by side (the Backtests compare table)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Print the metrics of two or more scenario runs side by side."

    def add_arguments(self, parser):
        parser.add_argument("runs", nargs="+", help="run ids")

    def handle(self, *args, **opts):
        from execution_app.scenarios import selectors as sel
        from execution_app.models import ScenarioRun

        try:
            ids = [int(x) for x in opts["runs"]]
        except ValueError:
            raise CommandError("RUN: run ids are numbers") from None
        if len(ids) < 2:
            raise CommandError("RUN: give at least two run ids")
        runs = {r.pk: r for r in ScenarioRun.objects.filter(pk__in=ids)}
        missing = [str(i) for i in ids if i not in runs]
        if missing:
            raise CommandError(f"RUN: no run {', '.join(missing)}")
        labels = [f"#{i} {runs[i].name or runs[i].strategy}"[:22] for i in ids]
        rows = sel.metric_rows({label: runs[i].metrics for label, i in zip(labels, ids)})
        rows.insert(0, {"metric": "final value", "values": [f"{runs[i].final_value or 0:,.2f}" for i in ids]})
        width = max(len(r["metric"]) for r in rows) + 2
        cols = [max(len(label), *(len(r["values"][k]) for r in rows)) + 2 for k, label in enumerate(labels)]
        self.stdout.write("".ljust(width) + "".join(label.rjust(w) for label, w in zip(labels, cols)))
        for r in rows:
            self.stdout.write(r["metric"].ljust(width) + "".join(v.rjust(w) for v, w in zip(r["values"], cols)))
        bt = next((runs[i] for i in ids if runs[i].kind == "backtest"), None)
        paper = next((runs[i] for i in ids if runs[i].kind == "paper"), None)
        if bt and paper:
            att = sel.divergence(bt, paper)
            self.stdout.write("\nbacktest vs paper, divergence by component (USD, positive = paper worse):")
            for k, v in att["totals"].items():
                self.stdout.write(f"  {k:<8}{v:>16}")
