// The Chaos page: polls chaos/api/state and steers faults through chaos/api/{fault,clear}.
// Its controls are built from chaos/faults, one line per registered fault kind: nothing here
// knows a kind by name. Every text from the server goes in with textContent, never as HTML.
"use strict";

(function () {
  const refreshMs = Number(document.body.dataset.refreshMs) || 1000;
  const $ = (selector) => document.querySelector(selector);
  let generation = null;
  let reportsSeen = 0;
  let faultKinds = []; // from chaos/faults: [{kind, summary, params: [{name, unit, ...}]}]
  const maxReportsShown = 500; // the newest; the count says how many there are

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes || {})) {
      if (key === "className") node.className = value;
      else if (key.startsWith("data-")) node.setAttribute(key, value);
      else node[key] = value;
    }
    for (const child of children) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function say(text, isError) {
    const message = $("#action-message");
    message.textContent = text;
    message.className = "message" + (isError ? " error" : "");
  }

  async function control(path, body) {
    document.querySelectorAll("#members-section button").forEach((b) => (b.disabled = true));
    try {
      const response = await fetch("chaos/api/" + path, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      const answer = await response.json();
      say(answer.ok ? answer.message : answer.error, !answer.ok);
    } catch (error) {
      say("request failed: " + error, true);
    } finally {
      document.querySelectorAll("#members-section button").forEach((b) => (b.disabled = false));
      poll();
    }
  }

  // One line of controls for fault kind `kind` on `proxy` ("*": every slow member):
  // an input per param, Set and Clear.
  function faultControls(kind, proxy) {
    const inputs = kind.params.map((param) => el("input", {
      type: "number", name: param.name, min: param.min, max: param.max, step: 1,
      value: param.default, title: `${param.label} (${param.unit})`,
    }));
    const fields = kind.params.flatMap((param, index) => [
      el("label", {}, param.label), inputs[index], el("label", {}, param.unit)]);
    const set = el("button", { type: "button", className: "set" }, "Set");
    const clear = el("button", { type: "button", className: "clear" }, "Clear");
    set.addEventListener("click", () => {
      const params = {};
      for (const input of inputs) params[input.name] = input.value;
      control("fault", { kind: kind.kind, proxy: proxy, params: params });
    });
    clear.addEventListener("click", () => control("clear", { kind: kind.kind, proxy: proxy }));
    return el("div", { className: "fault", "data-kind": kind.kind, title: kind.summary },
      el("span", { className: "kind-name" }, kind.kind), ...fields, set, clear);
  }

  function memberRow(member) {
    return el("tr", { "data-proxy": member.proxy },
      el("td", {}, member.member),
      el("td", { className: "mono" }, member.proxy),
      el("td", { className: "mono link" }),
      el("td", { className: "toxics" }),
      el("td", { className: "controls" },
        ...faultKinds.map((kind) => faultControls(kind, member.proxy))));
  }

  function renderMembers(state) {
    const body = $("#members tbody");
    const wanted = state.slow_members.map((member) => member.proxy);
    for (const row of Array.from(body.rows)) {
      if (!wanted.includes(row.dataset.proxy)) row.remove();
    }
    for (const member of state.slow_members) {
      let row = body.querySelector(`tr[data-proxy="${CSS.escape(member.proxy)}"]`);
      if (!row) {
        row = memberRow(member);
        body.append(row);
      }
      row.querySelector(".link").textContent =
        (member.listen || "?") + " \u2192 " + (member.upstream || "?");
      row.querySelector(".toxics").textContent = member.toxics_text;
    }
    if (!state.slow_members.length) {
      body.replaceChildren(el("tr", {}, el("td", { colSpan: 5, className: "muted" },
        "no slow members")));
    }
    document.querySelectorAll("#members-section button, #members-section input")
      .forEach((node) => { if (!state.can_steer) node.disabled = true; });
  }

  function renderThresholds(state) {
    $("#scenario-name").textContent = state.scenario.name
      ? `(${state.scenario.name}, min_samples ${state.scenario.min_samples})` : "";
    const rows = state.thresholds.map((check) => el("tr", { "data-check": check.check },
      el("td", { className: "mono" }, check.check),
      el("td", { className: "mono" }, check.measured),
      el("td", {}, el("span", { className: "status " + check.status }, check.label)),
      el("td", { className: "muted" }, check.detail)));
    $("#thresholds tbody").replaceChildren(...rows);
  }

  function renderReports(reports) {
    const list = $("#lock-reports");
    if (reports.generation !== generation) {
      generation = reports.generation;
      reportsSeen = 0;
      list.replaceChildren();
    }
    for (const report of reports.items) {
      if (report.index < reportsSeen) continue;
      const summary = el("summary", {},
        report.clock + " ", el("span", { className: "kind" }, report.kind),
        ` on ${report.lock} for ${report.duration_ms} ms \u2014 holder at ${report.holder_site}`);
      list.prepend(el("details", { className: "report", "data-index": report.index },
        summary, el("pre", {}, report.text)));
      reportsSeen = report.index + 1;
    }
    while (list.childElementCount > maxReportsShown) list.lastElementChild.remove();
    const count = $("#lock-count");
    count.textContent = reports.count;
    count.className = "count" + (reports.count ? " some" : "");
  }

  function render(state) {
    $("#swarm-state").textContent = state.swarm.state.toUpperCase();
    $("#swarm-users").textContent = state.swarm.users;
    $("#swarm-samples").textContent = state.swarm.samples;
    $("#target-mode").textContent = state.target.mode;
    $("#target-url").textContent = state.target.url;
    $("#target-locks").textContent = state.target.lock_reports;
    $("#toxiproxy-url").textContent = state.toxiproxy.url || "(none)";
    const problems = [state.error, state.toxiproxy.error, state.scenario.error].filter(Boolean);
    $("#problem").hidden = !problems.length;
    $("#problem").textContent = problems.join("; ");
    renderMembers(state);
    renderThresholds(state);
    renderReports(state.lock_reports);
  }

  let polling = false;
  async function poll() {
    if (polling) return;
    polling = true;
    try {
      const query = `since=${reportsSeen}` + (generation === null ? "" : `&generation=${generation}`);
      const response = await fetch("chaos/api/state?" + query);
      if (response.ok) render(await response.json());
    } catch (error) {
      $("#problem").hidden = false;
      $("#problem").textContent = "lost contact with Locust: " + error;
    } finally {
      polling = false;
    }
  }

  async function start() {
    try {
      const response = await fetch("chaos/faults");
      faultKinds = (await response.json()).kinds;
    } catch (error) {
      say("could not load the fault kinds: " + error, true);
    }
    $("#all-controls").replaceChildren(...faultKinds.map((kind) => faultControls(kind, "*")));
    poll();
    setInterval(poll, refreshMs);
  }
  start();
})();
