"""Live trading over FIX 4.4 (QuickFIX): the gateway process, the FIX venue client (an outbox the
gateway drains), the message mapping, reconciliation, and the simulated FIX venue for the demo and tests."""
