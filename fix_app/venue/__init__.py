"""A FIX 4.4 venue for the demo and the tests (``manage.py fix_venue``): a QuickFIX acceptor whose book
matches on the desk's market model through the paper exchange's matching (``market_app.matching.paper``).

- ``book``: the pure core (orders, ClOrdID chains, reports, positions) over ``PaperExchange``;
- ``market``: the desk's clock, market and venue parameters, read on the book thread;
- ``server``: the acceptor, its callbacks queued to the one book thread, persistence, fault modes;
- ``records``, ``reports``: the plain data (requests, reports, an order's record) and the reports' builders;
- ``config``, ``messages``, ``tags``: settings, QuickFIX conversions, tag numbers.

See ``docs/fix-venue.md``.
"""
