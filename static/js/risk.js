// The Risk page: utilisation bars, live alerts, live trading state.
// Bars are sized through the CSSOM (no inline style or script: CSP-safe). Alerts
// arrive as alert.raised / alert.updated / alert.resolved and change rows in place;
// a state or limit change made elsewhere updates the badge and offers a reload
// (the controls depend on the new state), reloading at once when no form is in use.
(function () {
  "use strict";
  function layoutBars(root) {
    (root || document).querySelectorAll(".ufill[data-util]").forEach(function (el) {
      const u = parseFloat(el.dataset.util);
      el.style.width = (Number.isFinite(u) ? Math.max(0, Math.min(1, u)) * 100 : 0) + "%";
    });
  }
  layoutBars();
  if (!window.desk) return;

  const alerts = document.querySelector("#alerts tbody");
  const badge = document.getElementById("alert-count");
  const stale = document.getElementById("risk-stale");

  function cell(text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }
  function stamp(iso) { return iso ? window.desk.fmtDateTime(iso).slice(5) : "—"; }  // display time zone, "m-d H:i:s"
  function alertRow(a) {
    const tr = document.createElement("tr");
    tr.dataset.alert = String(a.id);
    tr.className = "sev-" + a.severity + " st-" + a.status + " flash";
    tr.appendChild(cell(stamp(a.raised_at), "num"));
    tr.appendChild(cell(a.severity));
    tr.appendChild(cell(a.message, "msg"));
    tr.appendChild(cell(String(a.count), "num cnt"));
    tr.appendChild(cell(a.status, "st"));
    tr.appendChild(cell(a.acknowledged_by ? "ack " + a.acknowledged_by : ""));
    return tr;
  }
  function onAlert(msg) {
    if (!alerts) return;
    const a = msg.data;
    const old = alerts.querySelector('tr[data-alert="' + a.id + '"]');
    const row = alertRow(a);
    if (old) {
      const form = old.querySelector("form");  // keep the server-rendered Ack button while active
      if (form && a.status === "active" && !a.acknowledged_by) { row.lastChild.textContent = ""; row.lastChild.appendChild(form); }
      old.replaceWith(row);
    } else {
      const placeholder = alerts.querySelector("tr.placeholder");
      if (placeholder) placeholder.remove();
      alerts.insertBefore(row, alerts.firstChild);
    }
    if (badge && msg.type !== "alert.updated") {
      const n = parseInt(badge.textContent, 10) || 0;
      badge.textContent = String(Math.max(0, n + (msg.type === "alert.raised" ? 1 : -1)));
    }
  }
  ["alert.raised", "alert.updated", "alert.resolved"].forEach(function (t) { window.desk.on(t, onAlert); });

  function busy() {
    const el = document.activeElement;
    return el && (el.tagName === "INPUT" || el.tagName === "SELECT") && el.value;
  }
  let timer = null;
  function changedElsewhere() {
    if (stale) stale.hidden = false;
    if (timer) clearTimeout(timer);
    timer = setTimeout(function () { if (!busy()) location.reload(); }, 600);
  }
  window.desk.on("risk.state_changed", function (msg) {
    const row = document.querySelector('#states tr[data-scope="' + msg.data.scope + '"] .state-badge');
    if (row) { row.textContent = msg.data.state; row.className = "tstate tstate-" + msg.data.state.toLowerCase() + " state-badge"; }
    changedElsewhere();
  });
  window.desk.on("limit.updated", changedElsewhere);
  window.desk.on("resync", changedElsewhere);
})();
