"""The Chaos tab of Locust's web UI: watch the slow-member bug live and steer the latency.

It plugs into Locust only through Locust's own extension points; nothing is patched:

* ``events.init``: the locustfile calls :func:`install` on the master (or local runner) when
  Locust runs with a web UI.
* ``web_ui.template_args`` ``extended_tabs`` / ``extended_tables``: a read-only **Chaos** tab in
  Locust's tab bar. Set at init, they stay in the template arguments Locust renders for ``/``,
  so in Locust 2.47 the tab shows on the main page (``/?tab=chaos``) and not only on an
  extension's own route (locust issue #3240). Its rows ride along ``/stats/requests`` answers
  as ``extended_stats``.
* Flask routes guarded by ``web_ui.auth_required_if_enabled``: the Chaos page ``/chaos`` with
  the controls and the lock-report stacks, which Locust's extended tabs (plain text tables)
  cannot hold, and its JSON API. The page talks to our routes only; they call Toxiproxy.
* ``include_in_web_ui`` options (:mod:`harness.loadgen.options`): target URL, slow members and
  latency in Locust's start form, applied when a swarm starts.

Module map: :mod:`.live` (samples, lock reports, thresholds seen by the master),
:mod:`.proxies` (the slow members' Toxiproxy proxies), :mod:`.panel` (the tab's state),
:mod:`.routes` (Flask).
"""

from __future__ import annotations

from typing import Any

from harness.webui.panel import ChaosPanel, PanelSettings
from harness.webui.routes import TAB_KEY, add_routes

__all__ = ["ChaosPanel", "TAB_KEY", "install"]


def install(environment: Any) -> ChaosPanel | None:
    """Add the Chaos tab to ``environment.web_ui``; call from an ``events.init`` listener.

    Returns the panel, or ``None`` when Locust has no web UI (headless runs, workers).
    """
    web_ui = getattr(environment, "web_ui", None)
    options = getattr(environment, "parsed_options", None)
    if web_ui is None or options is None:
        return None
    panel = ChaosPanel(environment, PanelSettings.from_options(options))
    panel.attach()
    add_routes(panel, web_ui, str(getattr(options, "web_base_path", "") or ""))
    return panel
