"""A user's server as ``--target-cmd`` tests start it: the reference server, plus a child.

``python -m tests.launched_server [--die-after S] [--never-listen] -- ROOMSERVER_ARGS...``

It first starts a grandchild (``sleep``) and prints ``grandchild PID``, so a test can check
that the harness stops the launched command's whole process group. Then:

- by default it runs ``targets.roomserver`` with the remaining arguments;
- ``--die-after S`` also exits with code 3 after S seconds (a crash mid-run);
- ``--never-listen`` prints a line and sleeps without opening any port.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time

from targets.roomserver.__main__ import main as roomserver_main


def _die() -> None:
    print("launched_server: crashing on purpose", flush=True)
    os._exit(3)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--die-after", type=float)
    parser.add_argument("--never-listen", action="store_true")
    args, rest = parser.parse_known_args()
    grandchild = subprocess.Popen(["sleep", "300"])
    print(f"grandchild {grandchild.pid}", flush=True)
    if args.never_listen:
        print("launched_server: starting, but this one never listens", flush=True)
        time.sleep(300)
        return 0
    if args.die_after is not None:
        threading.Timer(args.die_after, _die).start()
    return roomserver_main([part for part in rest if part != "--"])


if __name__ == "__main__":
    sys.exit(main())
