"""The reference backtest in backtrader, as a whole process (``bench_backtest`` times it beside ``manage.py backtest``).

The same 20 stocks and closes (skfolio's S&P 500 demo, which ``load_demo`` stores), 2000-01-03 to 2022-12-28,
1,000,000 USD, equal weight rebalanced at the last session of each month and filled at that close (cheat-on-close,
as the desk's market-on-close fill), 5 bps commission. backtrader sizes by target percent (kept 1% below 1/20 so
its orders are not refused for cash), so its final value is close to the desk's, not equal.
"""

import time

T0 = time.perf_counter()

import backtrader as bt  # noqa: E402
import pandas as pd  # noqa: E402
from skfolio.datasets import load_sp500_dataset  # noqa: E402

START, END, CAPITAL, COMMISSION = "2000-01-03", "2022-12-28", 1_000_000, 0.0005


class EqualWeightMonthly(bt.Strategy):
    def next(self):
        data = self.datas[0]
        today = data.datetime.date(0)
        last_bar = len(data) >= data.buflen()
        if last_bar or data.datetime.date(1).month != today.month:
            for d in self.datas:
                self.order_target_percent(d, target=0.99 / len(self.datas))


def main() -> None:
    closes = load_sp500_dataset().loc[START:END]
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(CAPITAL)
    cerebro.broker.setcommission(commission=COMMISSION)
    cerebro.broker.set_coc(True)
    for symbol in closes.columns:
        s = closes[symbol].dropna()
        frame = pd.DataFrame({"open": s, "high": s, "low": s, "close": s, "volume": 0.0})
        cerebro.adddata(bt.feeds.PandasData(dataname=frame), name=symbol)
    cerebro.addstrategy(EqualWeightMonthly)
    cerebro.run()
    print(f"backtrader final value {cerebro.broker.getvalue():.2f} ({time.perf_counter() - T0:.2f} s)")


if __name__ == "__main__":
    main()
