// The Agents page: the live signal feed and the views bar chart.
// Live: each "signal.received" event (one per stored batch) prepends its latest
// signals and refreshes the views (debounced); "resync" re-fetches both over HTTP.
(function () {
  "use strict";
  const feed = document.getElementById("signal-feed");
  const chart = document.getElementById("views-chart");
  const asOf = document.getElementById("views-asof");
  if (!feed || !chart || !window.desk) return;
  const maxRows = parseInt(feed.dataset.maxRows || "50", 10);

  function fixed(value, places) {
    const n = Number(value);
    return Number.isFinite(n) ? n.toFixed(places) : "—";
  }
  function sign(value) { const n = Number(value); return n > 0 ? "pos" : (n < 0 ? "neg" : ""); }
  function cell(text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }
  // In the desk's display time zone, like the server-rendered rows (live.js helpers).
  function hms(iso) { return window.desk.fmtTime(iso); }
  function utcMinute(iso) { return iso ? window.desk.fmtDateTime(iso).slice(0, 16) : "—"; }

  function signalRow(s) {
    const tr = document.createElement("tr");
    tr.appendChild(cell(hms(s.received_at), "num"));
    tr.appendChild(cell(s.agent));
    tr.appendChild(cell(s.symbol));
    tr.appendChild(cell(fixed(s.score, 3), "num " + sign(s.score)));
    tr.appendChild(cell(fixed(s.confidence, 2), "num"));
    tr.appendChild(cell(String(Number(s.horizon_days)), "num"));
    tr.appendChild(cell(utcMinute(s.generated_at), "num"));
    return tr;
  }
  function trimFeed() {
    const placeholder = feed.querySelector("tr.placeholder");
    if (placeholder && feed.rows.length > 1) placeholder.remove();
    while (feed.rows.length > maxRows) feed.deleteRow(feed.rows.length - 1);
  }
  function prependSignals(list) {
    for (let i = list.length - 1; i >= 0; i -= 1) {
      const tr = signalRow(list[i]);
      tr.classList.add("fresh");
      feed.insertBefore(tr, feed.firstChild);
    }
    trimFeed();
  }

  // Bars: width |score| of half the track, growing right of the centre line for
  // positive scores and left for negative ones. Set through the CSSOM (CSP-safe).
  function layoutBars() {
    chart.querySelectorAll(".vrow").forEach(function (row) {
      const score = Math.max(-1, Math.min(1, Number(row.dataset.score) || 0));
      const fill = row.querySelector(".vfill");
      fill.style.width = (Math.abs(score) * 50) + "%";
      fill.style.left = (score >= 0 ? 50 : 50 - Math.abs(score) * 50) + "%";
    });
  }
  function viewRow(v) {
    const row = document.createElement("div");
    row.className = "vrow";
    row.dataset.symbol = v.symbol;
    row.dataset.score = String(v.score);
    row.title = Object.keys(v.contributions).sort().map(function (a) {
      return a + ": " + fixed(v.contributions[a], 3);
    }).join("\n");
    const sym = document.createElement("span"); sym.className = "vsym"; sym.textContent = v.symbol;
    const bar = document.createElement("span"); bar.className = "vbar";
    const fill = document.createElement("span"); fill.className = "vfill " + sign(v.score); bar.appendChild(fill);
    const num = document.createElement("span"); num.className = "vnum num " + sign(v.score); num.textContent = fixed(v.score, 3);
    const conf = document.createElement("span"); conf.className = "vconf num"; conf.textContent = fixed(v.confidence, 2);
    [sym, bar, num, conf].forEach(function (el) { row.appendChild(el); });
    return row;
  }
  function renderViews(body) {
    chart.textContent = "";
    if (!body.views.length) {
      const p = document.createElement("p"); p.className = "empty"; p.textContent = "No live signals at this market time.";
      chart.appendChild(p);
    }
    body.views.forEach(function (v) { chart.appendChild(viewRow(v)); });
    if (asOf) asOf.textContent = utcMinute(body.as_of) + " · " + body.method;
    layoutBars();
  }
  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) throw new Error(url + " answered " + r.status);
      return r.json();
    });
  }
  let pending = null;
  function refreshViews() {
    if (pending) return;
    pending = setTimeout(function () {
      pending = null;
      getJSON(chart.dataset.url).then(renderViews).catch(function (e) { console.error(e); });
    }, 1000);
  }
  function refreshFeed() {
    getJSON("/api/v1/signals/?limit=" + maxRows).then(function (page) {
      feed.textContent = "";
      page.results.forEach(function (s) { feed.appendChild(signalRow(s)); });
    }).catch(function (e) { console.error(e); });
  }

  // One summary per stored batch; a conflated push carries several as {"items": [...]}.
  window.desk.on("signal.received", function (msg) {
    const batches = Array.isArray(msg.data.items) ? msg.data.items : [msg.data];
    batches.forEach(function (batch) {
      prependSignals(batch.latest || []);
      (batch.agents || []).forEach(function (a) {
        const total = document.querySelector('tr[data-agent="' + a.id + '"] .signals-total');
        if (total) total.textContent = String((parseInt(total.textContent, 10) || 0) + a.count);
      });
    });
    if (msg.data.dropped) refreshFeed();
    refreshViews();
  });
  window.desk.on("resync", function () { refreshFeed(); refreshViews(); });
  layoutBars();
})();
