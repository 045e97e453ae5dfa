"""``python -m harness.headless.namespace_child SIZE OPTIONS_JSON``: one run in a namespace.

Started by :func:`harness.headless.one_run.run_in_namespace` under ``unshare -rn``: it brings ``lo``
up, caps the TCP buffers at SIZE bytes (:func:`harness.rig.netns.set_socket_buffers`) and runs the
run described by OPTIONS_JSON (:class:`harness.run.RunOptions`, the scenario itself, encoded by
:func:`harness.headless.one_run.encode_scenario`, sweep points included; a ``--target-cmd`` launch
plan, started inside too, in the folder it was given in) in this process; its exit code is the
verdict's. When the namespace cannot be set up it says why in one line and exits with 2 (the run
then has no result.json: ERROR).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from harness.headless.one_run import decode_scenario, run_scenario
from harness.net.tls import TlsOptions
from harness.rig.launched import LaunchPlan
from harness.rig.netns import INSIDE_ENV, set_socket_buffers
from harness.run import RunOptions


def main(argv: list[str]) -> int:
    """Set the buffers, then run the run."""
    size, raw = int(argv[0]), json.loads(argv[1])
    try:
        set_socket_buffers(size)
    except OSError as exc:  # namespace_problem() probes this; a change since is one line
        print(f"harness: error: the network namespace cannot be set up: {exc}",
              file=sys.stderr, flush=True)
        return 2
    os.environ[INSIDE_ENV] = "1"
    raw["scenario"] = decode_scenario(raw["scenario"])
    for key in ("results_dir", "history_dir"):
        if raw.get(key) is not None:
            raw[key] = Path(raw[key])
    if raw.get("launch") is not None:
        raw["launch"] = LaunchPlan(**raw["launch"])
    if raw.get("tls") is not None:
        raw["tls"] = TlsOptions(**raw["tls"])
    return run_scenario(RunOptions(**raw)).exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
