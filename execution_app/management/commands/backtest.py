"""``manage.py backtest``: run a strategy over the stored closes through the desk's one pipeline.

    manage.py backtest --strategy equal_weight --start 2000-01-03 --end 2022-12-28 \\
        --rebalance monthly --capital 1000000 --commission-bps 5 --output result.json
    manage.py backtest ... --algo POV --algo-params '{"rate": 0.05}'   # worked over each day's simulated session

The run is stored as a ``ScenarioRun`` (so ``manage.py compare`` and the Backtests
page see it) and written to ``--output`` as JSON: final_value, metrics, daily
equity, trades, positions, costs.
"""

from __future__ import annotations

import gc
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from desk.interfaces import ConfigError

FLAGS = {"strategy": "--strategy", "start": "--start", "end": "--end", "rebalance": "--rebalance",
         "capital": "--capital", "commission_bps": "--commission-bps", "slippage_bps": "--slippage-bps",
         "fill": "--fill", "portfolio": "--portfolio", "output": "--output", "params": "--params"}


class Command(BaseCommand):
    help = "Backtest a portfolio strategy on the stored daily closes (see DESIGN.md, 'Backtest fills')."
    # The system checks import every URL and view (seconds of start-up) and a backtest serves none of them.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--strategy", required=True, help="equal_weight, min_volatility, max_sharpe, hrp, ...")
        parser.add_argument("--start", required=True, help="YYYY-MM-DD; invested at the close of the first session on or after it")
        parser.add_argument("--end", required=True, help="YYYY-MM-DD")
        parser.add_argument("--rebalance", default="monthly", help="monthly, weekly or daily")
        parser.add_argument("--capital", default="1000000", help="USD")
        parser.add_argument("--commission-bps", dest="commission_bps", default="0")
        parser.add_argument("--slippage-bps", dest="slippage_bps", default="0")
        parser.add_argument("--fill", default="close", help="close (market-on-close, mild look-ahead) or next_close")
        parser.add_argument("--portfolio", default="", help="use this portfolio's risk limits")
        parser.add_argument("--params", default="", help="optimiser and run params as JSON, e.g. '{\"lookback_days\": 504}'")
        parser.add_argument("--algo", default="", help="IMMEDIATE (default: whole order at the fill's close), TWAP, VWAP "
                            "or POV (slices over the day's simulated intraday path)")
        parser.add_argument("--algo-params", dest="algo_params", default="",
                            help="the algo's params as JSON, e.g. '{\"slices\": 13}' (TWAP) or '{\"rate\": 0.05}' (POV)")
        parser.add_argument("--name", default="")
        parser.add_argument("--output", default="", help="write the result as JSON here")

    def handle(self, *args, **opts):
        if not gc.isenabled():
            # manage.py turned the collector off for Django's start-up, whose objects live as long as the process:
            # frozen, the run's collections no longer walk them. Together, about a sixth of the process's CPU time.
            gc.freeze()
            gc.enable()
        from execution_app.scenarios import services as svc

        try:
            params = json.loads(opts["params"]) if opts["params"] else {}
        except json.JSONDecodeError as e:
            raise CommandError(f"--params: not valid JSON ({e.msg})") from None
        if not isinstance(params, dict):
            raise CommandError("--params: must be a JSON object")
        if opts["algo"]:
            params["algo"] = opts["algo"]
        if opts["algo_params"]:
            try:
                params["algo_params"] = json.loads(opts["algo_params"])
            except json.JSONDecodeError as e:
                raise CommandError(f"--algo-params: not valid JSON ({e.msg})") from None
        portfolio = None
        if opts["portfolio"]:
            from portfolio_app.models import Portfolio

            portfolio = Portfolio.objects.filter(name=opts["portfolio"]).first()
            if portfolio is None:
                raise CommandError(f"--portfolio: no portfolio named {opts['portfolio']!r}")
        output = Path(opts["output"]) if opts["output"] else None
        if output is not None and not output.parent.exists():
            raise CommandError(f"--output: the directory {output.parent} does not exist")
        values = {k: opts[k] for k in ("strategy", "start", "end", "rebalance", "capital", "commission_bps",
                                       "slippage_bps", "fill")}
        values["params"] = params
        try:
            run, result = svc.backtest_run_now(values=values, name=opts["name"], portfolio=portfolio, publish=False)
        except ConfigError as e:
            flag = FLAGS.get(e.field.split(".")[0], f"--{e.field.replace('_', '-')}")
            for key in ("algo_params", "algo"):  # the flag that was given names a bad algo or algo param
                if opts[key] and (e.field == f"params.{key}" or e.field.startswith(f"params.{key}.")):
                    flag = f"--{key.replace('_', '-')}"
                    break
            raise CommandError(f"{flag}: {e.reason}" + (f" ({e.field})" if "." in e.field else "")) from None
        if output is not None:  # the JSON of every equity point and trade is built only to be written
            output.write_text(json.dumps({"run_id": run.pk, **result.to_json()}, indent=1))
        m = result.metrics
        self.stdout.write(
            f"run #{run.pk} {result.config.strategy} {result.config.rebalance} "
            f"{result.dates[0]} -> {result.dates[-1]}: final value {result.final_value} USD, "
            f"{len(result.trades)} trades, costs {result.total_commission + result.total_slippage}, "
            f"CAGR {m['cagr']:.2%}, Sharpe {m['sharpe']:.2f}, max drawdown {m['max_drawdown']:.2%} "
            f"({result.elapsed_s:.2f} s)"
        )
