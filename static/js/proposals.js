// Proposals: Approve / Reject / Request buttons (calling the API), the expiry countdown,
// and live updates: a "proposal.updated" event for a portfolio on the page re-renders
// the panel from the server (?partial=1), as does a websocket "resync".
(function () {
  "use strict";
  const root = document.getElementById("proposals-root");

  function csrf() {
    const el = document.querySelector("input[name=csrfmiddlewaretoken]");
    return el ? el.value : "";
  }
  function say(button, text, cls) {
    const msg = button.parentElement && button.parentElement.querySelector(".msg");
    if (msg) { msg.textContent = text; msg.className = "msg " + (cls || ""); }
  }
  function errorText(status, body) {
    if (body && body.detail) return body.detail;
    if (body && body.reason) return "Reason: " + [].concat(body.reason).join(" ");
    return "Request failed (" + status + ").";
  }

  async function post(button, payload) {
    button.disabled = true;
    try {
      const resp = await fetch(button.dataset.url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf(), "Accept": "application/json" },
        body: JSON.stringify(payload || {}),
      });
      const body = await resp.json().catch(function () { return {}; });
      if (!resp.ok) { say(button, errorText(resp.status, body), "neg"); return null; }
      return body;
    } catch (e) {
      say(button, "Network error: " + e.message, "neg");
      return null;
    } finally {
      button.disabled = false;
    }
  }

  document.addEventListener("click", async function (ev) {
    const button = ev.target.closest("button[data-action]");
    if (!button) return;
    const action = button.dataset.action;
    if (action === "approve") {
      say(button, "Approving…");
      const body = await post(button);
      if (body) { say(button, "Approved: orders created.", "pos"); refresh(); }
    } else if (action === "reject") {
      const input = button.parentElement.querySelector("input.reason");
      const reason = input ? input.value.trim() : "";
      if (!reason) { say(button, "A rejection needs a reason.", "neg"); if (input) input.focus(); return; }
      const body = await post(button, { reason: reason });
      if (body) { say(button, "Rejected.", "pos"); refresh(); }
    } else if (action === "request") {
      say(button, "Requesting…");
      const body = await post(button);
      if (body) {
        say(button, (body.created ? "Proposal #" + body.id + " is being computed…" : "Proposal #" + body.id + " is already open (" + body.status + ")."), "pos");
        refresh();
      }
    }
  });

  // Expiry countdown, mm:ss, every second.
  function tick() {
    document.querySelectorAll(".countdown[data-expires]").forEach(function (el) {
      const left = Math.max(0, Math.floor((new Date(el.dataset.expires) - Date.now()) / 1000));
      el.textContent = String(Math.floor(left / 60)).padStart(2, "0") + ":" + String(left % 60).padStart(2, "0");
      if (left === 0) el.classList.add("neg");
    });
  }
  setInterval(tick, 1000);
  tick();

  // Live: re-render the panel from the server when one of its proposals changes.
  let pending = null;
  async function refresh() {
    if (!root || !root.dataset.partialUrl) return;
    const resp = await fetch(root.dataset.partialUrl, { credentials: "same-origin" });
    if (!resp.ok) return;
    root.innerHTML = await resp.text();
    root.classList.remove("flash"); void root.offsetWidth; root.classList.add("flash");
    tick();
  }
  function later() { clearTimeout(pending); pending = setTimeout(refresh, 150); }
  if (window.desk && root) {
    const ids = (root.dataset.portfolios || "").split(",").filter(Boolean).map(Number);
    window.desk.on("proposal.updated", function (msg) {
      if (!ids.length || ids.indexOf(Number(msg.data.portfolio_id)) >= 0) later();
    });
    window.desk.on("resync", later);
  }
})();
