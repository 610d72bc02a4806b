"""The desk under a steady mixed load (issue 11, point 6): signal posts, page views,
proposal reads and order flow. Run by `make load` (bench/load.py), which starts the desk,
then locust headless for 2 minutes at ~200 requests/s on loopback."""

import itertools
import os
import random

from locust import HttpUser, constant_throughput, task

API_TOKEN = os.environ["LOAD_API_TOKEN"]
TRADER_TOKEN = os.environ["LOAD_TRADER_TOKEN"]
PASSWORD = os.environ["LOAD_PASSWORD"]
PORTFOLIO = os.environ["LOAD_PORTFOLIO"]
MARKET_TIME = os.environ["LOAD_MARKET_TIME"]
SYMBOLS = ["AAPL", "MSFT", "JPM", "XOM", "KO", "PG", "JNJ", "WMT", "HD", "PFE"]
_ids = itertools.count()


class DeskUser(HttpUser):
    wait_time = constant_throughput(5)  # requests per second per user

    def on_start(self):
        self.client.get("/login/", name="page /login/")
        token = self.client.cookies.get("csrftoken")
        self.client.post("/login/", {"username": "trader", "password": PASSWORD, "csrfmiddlewaretoken": token},
                         headers={"Referer": self.host + "/login/"}, name="page /login/ POST")

    @task(4)
    def post_signal(self):
        n = next(_ids)
        self.client.post("/api/v1/signals/", json={
            "agent": "vendor-feed", "symbol": random.choice(SYMBOLS), "score": round(random.uniform(-1, 1), 3),
            "confidence": 0.6, "horizon_days": 5, "generated_at": MARKET_TIME, "client_signal_id": f"load-{os.getpid()}-{n}",
        }, headers={"Authorization": f"Token {API_TOKEN}"}, name="POST /api/v1/signals/")

    @task(2)
    def orders_api(self):
        self.client.get("/api/v1/orders/?limit=50", headers={"Authorization": f"Token {TRADER_TOKEN}"}, name="GET /api/v1/orders/")

    @task(1)
    def proposals_api(self):
        self.client.get("/api/v1/proposals/", headers={"Authorization": f"Token {TRADER_TOKEN}"}, name="GET /api/v1/proposals/")

    @task(1)
    def overview_page(self):
        self.client.get("/", name="page /")

    @task(1)
    def blotter_page(self):
        self.client.get("/orders/", name="page /orders/")

    @task(1)
    def place_order(self):
        # Small IMMEDIATE market orders with distinct quantities (the 2 s duplicate-order window).
        self.client.post("/api/v1/orders/", json={
            "portfolio": int(PORTFOLIO), "symbol": random.choice(SYMBOLS), "side": random.choice(["BUY", "SELL"]),
            "quantity": str(random.randint(1, 400)), "order_type": "MARKET", "algo": "IMMEDIATE",
        }, headers={"Authorization": f"Token {TRADER_TOKEN}"}, name="POST /api/v1/orders/")
