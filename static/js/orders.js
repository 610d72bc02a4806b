// The Orders blotter and order page: rows change in place on order.updated / fill.created,
// a changed cell flashes once, and "resync" (a gap or a reconnect) re-fetches over HTTP.
(function () {
  "use strict";
  const blotter = document.getElementById("blotter");
  const head = document.getElementById("order-head");
  const pageOrderId = head ? Number(head.dataset.orderId) : null;

  function fmtQty(v) { const n = Number(v); return isNaN(n) ? "—" : n.toLocaleString("en-US", { maximumFractionDigits: 4 }); }
  function fmtPx(v) {
    if (v === null || v === undefined || v === "") return "—";
    const n = Number(v);
    return Math.abs(n) >= 1 ? n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 }) : n.toFixed(6);
  }
  function fmtMoney(v) { return Number(v).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 }); }
  function flash(el) { el.classList.remove("flash"); void el.offsetWidth; el.classList.add("flash"); }
  function setCell(row, name, text, cls) {
    const cell = row.querySelector('[data-cell="' + name + '"]');
    if (!cell || cell.textContent === text) return;
    cell.textContent = text;
    if (cls !== undefined) cell.className = cls;
    flash(cell);
  }

  function applyOrder(d) {
    const rows = document.querySelectorAll('[data-order-id="' + d.id + '"]');
    rows.forEach(function (row) {
      if (row.tagName === "BUTTON") return;
      setCell(row, "status", d.status, "status status-" + String(d.status).toLowerCase());
      setCell(row, "filled_qty", fmtQty(d.filled_qty));
      setCell(row, "avg_px", fmtPx(d.avg_px));
      setCell(row, "quantity", fmtQty(d.quantity));
      if (d.reason) setCell(row, "reason", d.reason);
      if (row.dataset) row.dataset.status = d.status;
    });
    return rows.length > 0;
  }

  // Blotter: fetch the rows fragment, debounced so a burst of events costs one request.
  let refetchTimer = null;
  function refetchRows() {
    if (!blotter) return;
    clearTimeout(refetchTimer);
    refetchTimer = setTimeout(function () {
      fetch(blotter.dataset.fragmentUrl, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          const tpl = document.createElement("template");
          tpl.innerHTML = html.trim();
          const fresh = tpl.content.querySelector("tbody");
          const old = document.getElementById("blotter-rows");
          if (fresh && old) { old.replaceWith(fresh); }
        })
        .catch(function (e) { console.error("orders: re-fetch failed", e); });
    }, 250);
  }

  function toggleChildren(btn) {
    const id = btn.dataset.orderId;
    const open = btn.getAttribute("aria-expanded") === "true";
    document.querySelectorAll('tr.child[data-parent-id="' + id + '"]').forEach(function (r) { r.remove(); });
    if (open) { btn.setAttribute("aria-expanded", "false"); btn.textContent = "▸"; return; }
    fetch("/orders/" + id + "/children/", { credentials: "same-origin" })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        const anchor = document.querySelector('tr.child-summary[data-parent-id="' + id + '"]') ||
          document.querySelector('tr.parent[data-order-id="' + id + '"]');
        const tpl = document.createElement("template");
        tpl.innerHTML = "<table><tbody>" + html + "</tbody></table>";
        const rows = Array.from(tpl.content.querySelectorAll("tr"));
        rows.reverse().forEach(function (r) { anchor.after(r); });
        btn.setAttribute("aria-expanded", "true"); btn.textContent = "▾";
      });
  }

  document.addEventListener("click", function (ev) {
    const btn = ev.target.closest("button.toggle");
    if (btn) { ev.preventDefault(); toggleChildren(btn); }
  });
  document.addEventListener("submit", function (ev) {
    const msg = ev.target.dataset && ev.target.dataset.confirm;
    if (msg && !window.confirm(msg)) ev.preventDefault();
  });

  function addFillRow(d) {
    const table = document.getElementById("fills");
    if (!table) return;
    const none = table.querySelector("tr.none"); if (none) none.remove();
    const tr = document.createElement("tr");
    [String(d.ts_event).slice(11, 19), d.trade_id, d.venue || "", fmtQty(d.last_qty), fmtPx(d.last_px), fmtMoney(d.commission), ""]
      .forEach(function (text, i) { const td = document.createElement("td"); td.textContent = text; if (i >= 3 && i <= 5) td.className = "num"; tr.appendChild(td); });
    table.querySelector("tbody").appendChild(tr);
    flash(tr);
  }

  if (!window.desk) return;
  window.desk.on("order.updated", function (msg) {
    const d = msg.data;
    const known = applyOrder(d);
    if (blotter && !known && !d.parent_id) refetchRows();  // a new parent order
  });
  window.desk.on("fill.created", function (msg) {
    const d = msg.data;
    if (pageOrderId && (d.order_id === pageOrderId || d.parent_id === pageOrderId)) addFillRow(d);
  });
  window.desk.on("resync", function () {
    if (blotter) { refetchRows(); return; }
    if (pageOrderId) {
      fetch(location.href, { credentials: "same-origin" }).then(function (r) { return r.text(); }).then(function (html) {
        const doc = new DOMParser().parseFromString(html, "text/html");
        const main = doc.querySelector("main");
        if (main) document.querySelector("main").replaceWith(main);
      });
    }
  });
})();
