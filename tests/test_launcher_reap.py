"""`make run` leaves nothing running after Ctrl-C: the launcher adopts orphans and reaps them."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_reap_descendants_when_a_grandchild_is_orphaned_then_it_is_adopted_and_gone_before_the_launcher_exits():
    # In a process of its own, since becoming a subreaper lasts for the process's life.
    script = textwrap.dedent("""
        import subprocess, time
        import config.launcher as launcher
        launcher.become_subreaper()
        subprocess.Popen(["sh", "-c", "sleep 60 & echo $!"], stdout=open("/dev/null", "w")).wait()  # sh exits, sleep is orphaned
        time.sleep(0.3)
        adopted = launcher._children()
        launcher.reap_descendants(2.0)
        print(len(adopted), len(launcher._children()))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)

    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "0"]  # the orphan came to the launcher, and it is gone
