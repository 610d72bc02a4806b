"""The rebalance workflow: propose (views → optimiser → sizing → proposal check), decide, complete.

- ``construction``: the proposal's plan through the one orchestrator
- ``services``: request and compute a proposal
- ``approval``: a trader approves (orders created and submitted through the gate) or rejects
- ``policies``: calendar and drift policies that request proposals on the market clock
"""
