// The Monitoring page: four SVG charts of the last hour (latency, error rate, throughput,
// queue depth), the resources (processes, queues, database, Redis, disk), the backups and the
// alert and worker tables, from /monitoring/data/ every 10 s and on every alert event. Drawn
// here, no chart library; text goes in with textContent only.
(function () {
  "use strict";
  const root = document.getElementById("mon-charts");
  if (!root) return;
  const URL_DATA = root.dataset.url;
  const NS = "http://www.w3.org/2000/svg";
  const W = 520, H = 150, PAD = { l: 44, r: 8, t: 8, b: 20 };
  const QUEUE_CLASSES = ["q0", "q1", "q2", "q3", "q4", "q5"];

  function el(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(node);
    return node;
  }

  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    const m = v / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }

  // series: [{cls, values: [number|null], bars?: bool}]; times: epoch seconds per point.
  function draw(svg, times, series, unit) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    const n = times.length;
    const all = [];
    series.forEach(function (s) { s.values.forEach(function (v) { if (v !== null && v !== undefined) all.push(v); }); });
    const ymax = niceMax(Math.max.apply(null, all.concat([0])));
    const x = function (i) { return PAD.l + (n <= 1 ? 0 : i * (W - PAD.l - PAD.r) / (n - 1)); };
    const y = function (v) { return H - PAD.b - (v / ymax) * (H - PAD.t - PAD.b); };
    [0, 0.5, 1].forEach(function (f) {
      el("line", { x1: PAD.l, x2: W - PAD.r, y1: y(ymax * f), y2: y(ymax * f), class: "gridline" }, svg);
      const t = el("text", { x: PAD.l - 4, y: y(ymax * f) + 4, class: "axis", "text-anchor": "end" }, svg);
      t.textContent = window.desk.fmtNum(ymax * f, ymax * f < 10 && f > 0 ? 1 : 0);
    });
    [0, Math.floor((n - 1) / 2), n - 1].forEach(function (i) {
      if (i < 0 || !times[i]) return;
      const t = el("text", { x: x(i), y: H - 4, class: "axis", "text-anchor": i === 0 ? "start" : i === n - 1 ? "end" : "middle" }, svg);
      t.textContent = window.desk.fmtTime(new Date(times[i] * 1000).toISOString()).slice(0, 5);
    });
    if (!all.length) {
      const t = el("text", { x: W / 2, y: H / 2, class: "axis", "text-anchor": "middle" }, svg);
      t.textContent = "no data in the last hour";
      return;
    }
    series.forEach(function (s) {
      if (s.bars) {
        const bw = Math.max(1, (W - PAD.l - PAD.r) / Math.max(n, 1) - 1);
        s.values.forEach(function (v, i) {
          if (!v) return;
          el("rect", { x: x(i) - bw / 2, y: y(v), width: bw, height: H - PAD.b - y(v), class: "bar " + s.cls }, svg);
        });
        return;
      }
      let d = "";
      let pen = false;
      s.values.forEach(function (v, i) {
        if (v === null || v === undefined) { pen = false; return; }
        d += (pen ? "L" : "M") + x(i).toFixed(1) + " " + y(v).toFixed(1);
        pen = true;
      });
      if (d) el("path", { d: d, class: "line " + s.cls }, svg);
    });
    el("title", {}, svg).textContent = unit;
  }

  function cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
  }

  function fillTable(id, rows, empty, cols, render) {
    const body = document.querySelector("#" + id + " tbody");
    if (!body) return;
    while (body.firstChild) body.removeChild(body.firstChild);
    if (!rows.length) {
      const tr = document.createElement("tr");
      tr.className = "empty";
      const td = document.createElement("td");
      td.colSpan = cols;
      td.textContent = empty;
      tr.appendChild(td);
      body.appendChild(tr);
      return;
    }
    rows.forEach(function (r) { const tr = document.createElement("tr"); render(tr, r); body.appendChild(tr); });
  }

  function bytes(n) {
    if (n === null || n === undefined) return "—";
    const units = ["B", "KB", "MB", "GB", "TB"];
    let v = Number(n), i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
    return window.desk.fmtNum(v, i === 0 ? 0 : 1) + " " + units[i];
  }

  function ago(s) {
    if (s === null || s === undefined) return "—";
    if (s < 120) return Math.round(s) + " s";
    if (s < 7200) return Math.round(s / 60) + " min";
    return Math.floor(s / 3600) + " h " + String(Math.round(s % 3600 / 60)).padStart(2, "0") + " min";
  }

  function setText(id, text) { const n = document.getElementById(id); if (n) n.textContent = text; }

  function renderResources(r) {
    if (!r) return;
    const errs = r.errors || {};
    const db = r.database;
    setText("res-db", db ? db.total + " of " + db.max + " (" + window.desk.fmtNum(db.pct, 1) + "%)" : (errs.database ? "unavailable" : "n/a (SQLite)"));
    const rm = r.redis;
    setText("res-redis", rm ? bytes(rm.used) + (rm.max ? " of " + bytes(rm.max) + " " + rm.max_source + " (" + window.desk.fmtNum(rm.pct, 1) + "%)" : "") : "unavailable");
    const d = r.disk;
    setText("res-disk", d ? bytes(d.free) + " of " + bytes(d.total) + " (" + window.desk.fmtNum(d.free_pct, 1) + "%)" : "unavailable");
    fillTable("procs", r.processes || [], errs.processes ? "Redis does not answer: no process reports." : "No process has reported yet.", 7, function (tr, p) {
      if (p.age_s > Math.max(15, 3 * (p.interval_s || 5))) tr.className = "stale";
      cell(tr, p.role); cell(tr, p.name); cell(tr, String(p.pid), "num"); cell(tr, window.desk.fmtNum(p.cpu_pct, 1), "num");
      cell(tr, bytes(p.rss_bytes), "num"); cell(tr, String(p.children || 0), "num"); cell(tr, window.desk.fmtNum(p.age_s, 1), "num");
    });
    const queues = Object.keys(r.queues || {}).map(function (q) { return Object.assign({ name: q }, r.queues[q]); });
    fillTable("queues", queues, errs.queues ? "The broker does not answer." : "No queue on a Redis broker.", 3, function (tr, q) {
      if (q.oldest_age_s > 30) tr.className = "stale";
      cell(tr, q.name); cell(tr, String(q.depth), "num");
      cell(tr, q.oldest_age_s === null || q.oldest_age_s === undefined ? "—" : window.desk.fmtNum(q.oldest_age_s, 1), "num");
    });
  }

  function renderBackups(b) {
    if (!b) return;
    const last = document.getElementById("backup-last");
    if (last) {
      while (last.firstChild) last.removeChild(last.firstChild);
      if (b.last) {
        last.appendChild(document.createTextNode("Last good backup "));
        const age = document.createElement("b");
        age.textContent = ago(b.age_s) + " ago";
        if (b.interval_s && b.age_s > 2 * b.interval_s) age.className = "late";
        last.appendChild(age);
        last.appendChild(document.createTextNode(": " + b.last.file + " · " + bytes(b.last.size_bytes) + " · sha256 " +
          (b.last.sha256 || "").slice(0, 12) + "… · " + window.desk.fmtNum(b.last.duration_s, 2) + " s"));
      } else {
        last.textContent = "No good backup yet.";
      }
    }
    fillTable("backups", b.recent || [], "No backup yet.", 7, function (tr, x) {
      tr.className = "backup-" + x.status + (x.pruned ? " pruned" : "");
      cell(tr, window.desk.fmtDateTime(x.started_at), "num"); cell(tr, x.status + (x.pruned ? " (pruned)" : "")); cell(tr, x.trigger);
      cell(tr, x.file + (x.error ? ": " + x.error : ""), "msg"); cell(tr, bytes(x.size_bytes), "num");
      cell(tr, (x.sha256 || "").slice(0, 16), "hash"); cell(tr, window.desk.fmtNum(x.duration_s, 2), "num");
    });
  }

  function render(data) {
    const pts = data.points || [];
    const times = pts.map(function (p) { return p.t; });
    const col = function (k) { return pts.map(function (p) { return p[k]; }); };
    draw(document.getElementById("chart-latency"), times, [
      { cls: "p50", values: col("p50_ms") }, { cls: "p99", values: col("p99_ms") }], "ms");
    draw(document.getElementById("chart-errors"), times, [{ cls: "err", values: col("error_pct") }], "%");
    draw(document.getElementById("chart-throughput"), times, [
      { cls: "req", values: col("requests"), bars: true }, { cls: "fills", values: col("fills") }], "per minute");
    const queues = {};
    pts.forEach(function (p) { Object.keys(p.queues || {}).forEach(function (q) { queues[q] = true; }); });
    const names = Object.keys(queues).sort();
    draw(document.getElementById("chart-queues"), times, names.map(function (q, i) {
      return { cls: QUEUE_CLASSES[i % QUEUE_CLASSES.length], values: pts.map(function (p) { return (p.queues || {})[q] !== undefined ? p.queues[q] : null; }) };
    }), "messages");
    const keys = document.getElementById("queue-keys");
    if (keys) {
      while (keys.firstChild) keys.removeChild(keys.firstChild);
      names.forEach(function (q, i) {
        const s = document.createElement("span");
        s.className = "k k-" + QUEUE_CLASSES[i % QUEUE_CLASSES.length];
        s.textContent = q;
        keys.appendChild(s);
        keys.appendChild(document.createTextNode(" "));
      });
    }
    fillTable("alerts-active", data.active || [], "No active alerts.", 6, function (tr, a) {
      tr.className = "sev-" + a.severity;
      cell(tr, a.severity); cell(tr, a.kind); cell(tr, a.message, "msg"); cell(tr, String(a.count), "num");
      cell(tr, window.desk.fmtTime(a.raised_at), "num"); cell(tr, window.desk.fmtTime(a.updated_at), "num");
    });
    fillTable("alerts-history", data.history || [], "No resolved alerts yet.", 5, function (tr, a) {
      tr.className = "sev-" + a.severity;
      cell(tr, a.severity); cell(tr, a.kind); cell(tr, a.message, "msg");
      cell(tr, window.desk.fmtDateTime(a.raised_at), "num"); cell(tr, window.desk.fmtDateTime(a.resolved_at), "num");
    });
    fillTable("workers", data.workers || [], "No worker has answered yet.", 3, function (tr, w) {
      if (w.age_s > 15) tr.className = "stale";
      cell(tr, w.name); cell(tr, window.desk.fmtNum(w.age_s, 1), "num");
      cell(tr, window.desk.fmtDateTime(new Date(w.first_seen * 1000).toISOString()), "num");
    });
    renderResources(data.resources);
    renderBackups(data.backups);
    const count = document.getElementById("active-count");
    if (count) count.textContent = String((data.active || []).length);
    const err = document.getElementById("mon-error");
    const problem = data.error || data.workers_error;
    if (err) { err.hidden = !problem; err.textContent = problem || ""; }
    const upd = document.getElementById("mon-updated");
    if (upd) upd.textContent = "updated " + window.desk.fmtTime(new Date().toISOString());
  }

  let inflight = false;
  function refresh() {
    if (inflight) return;
    inflight = true;
    fetch(URL_DATA, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(render)
      .catch(function (e) {
        const err = document.getElementById("mon-error");
        if (err) { err.hidden = false; err.textContent = "Monitoring data unavailable: " + e.message; }
      })
      .finally(function () { inflight = false; });
  }

  ["alert.raised", "alert.updated", "alert.resolved", "resync"].forEach(function (t) { window.desk.on(t, refresh); });
  refresh();
  setInterval(refresh, 10000);
})();
