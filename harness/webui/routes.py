"""Flask routes of the Chaos tab, added to Locust's web UI app.

``GET /chaos`` is the Chaos page (controls and lock-report stacks), ``GET /chaos/api/state`` its
live state. ``GET /chaos/faults`` describes every registered fault kind (its params, units,
bounds and starting values), from which the page builds its Set/Clear controls; ``POST
/chaos/api/fault`` (``{kind, params, proxy}``) and ``POST /chaos/api/clear`` (``{kind, proxy}``)
steer the slow members' links, each fault kind checking its own values; a member fault (a
stall) goes to the members themselves as a command.

Every route is guarded by ``web_ui.auth_required_if_enabled``, so ``--web-login`` covers
it like Locust's own. POSTs coming from another origin are refused: Locust's app answers CORS
requests from anywhere, and these routes change the system under test.

Two ``after_request`` hooks connect to Locust's own page: ``/stats/requests`` answers carry the
rows of the Chaos tab in Locust's tab bar (``extended_stats``), and an edited running test
(``POST /swarm``) applies its latency.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import gevent
from flask import Blueprint, Response, jsonify, render_template, request

from harness.webui.panel import ChaosPanel
from harness.webui.proxies import ChaosError

__all__ = ["TAB_KEY", "add_routes"]

#: Key of the Chaos tab in Locust's tab bar (``/?tab=chaos``).
TAB_KEY = "chaos"
TAB_STRUCTURE = [
    {"key": "section", "title": "Section"},
    {"key": "item", "title": "Item"},
    {"key": "state", "title": "State"},
    {"key": "detail", "title": "Detail"},
]


def add_routes(panel: ChaosPanel, web_ui: Any, base_path: str = "") -> None:
    """Register the Chaos page, its API and the tab in Locust's tab bar on ``web_ui``."""
    guard = web_ui.auth_required_if_enabled
    blueprint = Blueprint("roomchaos", __name__, url_prefix=base_path or None,
                          template_folder="templates", static_folder="static",
                          static_url_path="/chaos/static")

    @blueprint.route("/chaos")
    @guard
    def chaos_page() -> str:
        return render_template("roomchaos/chaos.html", refresh_ms=1000)

    @blueprint.route("/chaos/api/state")
    @guard
    def chaos_state() -> Response:
        since = request.args.get("since", default=0, type=int)
        generation = request.args.get("generation", default=None, type=int)
        return jsonify(panel.snapshot(since, generation))

    @blueprint.route("/chaos/faults")
    @guard
    def chaos_faults() -> Response:
        return jsonify({"kinds": panel.fault_controls()})

    @blueprint.route("/chaos/api/fault", methods=["POST"])
    @guard
    def chaos_fault() -> tuple[Response, int]:
        def act(body: dict[str, Any]) -> list[str]:
            return panel.set_fault(body.get("kind"), body.get("params") or {}, _proxy(body))

        return _control(act, "set on")

    @blueprint.route("/chaos/api/clear", methods=["POST"])
    @guard
    def chaos_clear() -> tuple[Response, int]:
        return _control(lambda body: panel.set_fault(body.get("kind"), {}, _proxy(body), on=False),
                        "cleared on")

    web_ui.app.register_blueprint(blueprint)

    # Locust's own tab bar: a read-only Chaos tab fed through /stats/requests.
    web_ui.template_args["extended_tabs"] = [
        *web_ui.template_args.get("extended_tabs", []),
        {"title": "Chaos", "key": TAB_KEY},
    ]
    web_ui.template_args["extended_tables"] = [
        *web_ui.template_args.get("extended_tables", []),
        {"key": TAB_KEY, "structure": TAB_STRUCTURE},
    ]

    @web_ui.app.after_request
    def chaos_hooks(response: Response) -> Response:
        if request.endpoint == "locust.request_stats" and response.status_code == 200:
            data = response.get_json(silent=True)
            if isinstance(data, dict):
                controls = request.host_url.rstrip("/") + (base_path or "") + "/chaos"
                data["extended_stats"] = [
                    *data.get("extended_stats", []),
                    {"key": TAB_KEY, "data": panel.tab_rows(controls)},
                ]
                response.set_data(json.dumps(data))
        elif request.endpoint == "locust.swarm" and request.method == "POST":
            state = str(getattr(panel.environment.runner, "state", ""))
            if state in ("running", "spawning"):  # an edit; a new swarm goes via test_start
                gevent.spawn(panel.on_form_edited)
        return response


def _proxy(body: dict[str, Any]) -> str | None:
    proxy = body.get("proxy")
    if proxy in (None, "", "*"):
        return None
    if not isinstance(proxy, str):
        raise ChaosError(f"proxy must be a proxy name, got {proxy!r}")
    return proxy


def _control(action: Any, verb: str) -> tuple[Response, int]:
    """Run a control ``action`` on the JSON body; answer ``{ok, changed, message | error}``.

    The message is ``"<kind> <verb> <proxies>"``, e.g. ``latency set on roomchaos-slow-0``.
    """
    origin = request.headers.get("Origin")
    if origin and urlsplit(origin).netloc != request.host:
        return jsonify({"ok": False, "error": f"refused: request from origin {origin}"}), 403
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify({"ok": False, "error": "expected a JSON object"}), 400
    try:
        changed = action(body)
    except ChaosError as exc:
        return jsonify({"ok": False, "error": str(exc)}), exc.status
    return jsonify({"ok": True, "changed": changed,
                    "message": f"{body.get('kind')} {verb} {', '.join(changed)}"}), 200
