#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    if sys.argv[1:2] == ["backtest"]:
        import gc

        # A backtest is a short process whose start-up (settings, every app's models and admin) makes a great many
        # objects that live as long as it does and almost no garbage: the collector is off until the command starts,
        # which freezes them out of its reach and turns it back on (execution_app/management/commands/backtest.py).
        gc.disable()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
