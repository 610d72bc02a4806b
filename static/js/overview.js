// The Overview: NAV, exposures, P&L and today's NAV line revalued on every (conflated) price.tick,
// fills prepended to the ticker as fill.created arrives, working orders' progress moved in place as
// order.updated arrives, and the server-drawn panels re-fetched (debounced) when a fill, order,
// proposal, alert or trading state of this portfolio changes, or on "resync".
// No inline script or style (CSP): the chart is drawn here from the page's JSON data.
(function () {
  "use strict";
  const root = document.getElementById("ov-root");
  if (!root) return;
  const portfolioId = Number(root.dataset.portfolio || 0);
  const SVG = "http://www.w3.org/2000/svg";
  const desk = window.desk || { fmtNum: function (v, p) { return Number(v).toFixed(p); }, fmtTime: function (s) { return s; } };
  const lastTick = {};  // symbol -> latest mark seen on this page
  let lastTickTs = null;  // market time of the latest tick (ISO)

  function $(id) { return document.getElementById(id); }
  function num(v) { const n = Number(v); return Number.isFinite(n) ? n : null; }
  function signCls(n) { return n > 0 ? "pos" : (n < 0 ? "neg" : ""); }
  // Marks move on every tick: cells change quietly then; a fill or refresh flashes them once.
  let flashing = false;
  function setText(el, text, cls) {
    if (!el) return;
    if (el.textContent !== text) {
      el.textContent = text;
      if (flashing) { el.classList.remove("flash"); void el.offsetWidth; el.classList.add("flash"); }
    }
    if (cls !== undefined) { el.classList.remove("pos", "neg"); if (cls) el.classList.add(cls); }
  }
  function money(n) { return n === null ? "—" : desk.fmtNum(n, 2); }
  function signedMoney(n) { return n === null ? "—" : (n > 0 ? "+" : (n < 0 ? "-" : "")) + desk.fmtNum(Math.abs(n), 2); }
  function pct(n, places) { return n === null ? "—" : (n * 100).toFixed(places === undefined ? 1 : places) + "%"; }
  function px(n) { return n === null ? "—" : (Math.abs(n) >= 1 ? desk.fmtNum(n, 2) : n.toFixed(6)); }
  function qty(n) { return n === null ? "—" : desk.fmtNum(n, Number.isInteger(n) ? 0 : 4); }

  // --- Revalue the book at the latest marks --------------------------------------------
  function revalue() {
    const kpis = $("ov-kpis");
    if (!kpis) return;
    const cash = num(kpis.dataset.cash) || 0;
    const prevNav = num(kpis.dataset.prevNav);
    let net = 0, gross = 0, upnlTotal = 0;
    const rows = document.querySelectorAll("#ov-position-table tbody tr[data-symbol]");
    rows.forEach(function (tr) {
      const q = num(tr.dataset.qty) || 0;
      const mark = num(lastTick[tr.dataset.symbol] !== undefined ? lastTick[tr.dataset.symbol] : tr.dataset.mark);
      if (mark === null) return;
      const value = q * mark;
      net += value; gross += Math.abs(value);
      tr.dataset.value = String(value);
      tr.dataset.mark = String(mark);
      setText(tr.querySelector('[data-cell="qty"]'), qty(q));
      setText(tr.querySelector('[data-cell="mark"]'), px(mark));
      setText(tr.querySelector('[data-cell="value"]'), money(value));
      const upnl = (mark - (num(tr.dataset.avg) || 0)) * q;
      upnlTotal += upnl;
      setText(tr.querySelector('[data-cell="upnl"]'), signedMoney(upnl), signCls(Math.round(upnl * 100)));
    });
    const nav = cash + net;
    rows.forEach(function (tr) {
      const v = num(tr.dataset.value);
      if (v === null || !nav) return;
      setText(tr.querySelector('[data-cell="weight"]'), pct(v / nav));
      const target = num(tr.dataset.target === "" ? null : tr.dataset.target);
      if (target !== null) {
        const gap = Math.round((target - v / nav) * 1000) / 10;  // percent, one place, as the server shows it
        setText(tr.querySelector('[data-cell="gap"]'), (gap >= 0 ? "+" : "-") + Math.abs(gap).toFixed(1) + "%");
      }
    });
    if (rows.length) setText($("ov-upnl-total"), signedMoney(upnlTotal), signCls(Math.round(upnlTotal * 100)));
    setText($("kpi-nav"), money(nav));
    setText($("kpi-cash"), money(cash));
    if (nav) { setText($("kpi-gross"), pct(gross / nav)); setText($("kpi-net"), pct(net / nav)); }
    if (prevNav) {
      const pnl = nav - prevNav;
      const cls = signCls(Math.round(pnl * 100));
      setText($("kpi-pnl"), signedMoney(pnl), cls);
      setText($("kpi-pnl-pct"), "(" + (pnl >= 0 ? "+" : "-") + Math.abs(pnl / prevNav * 100).toFixed(2) + "%)", cls);
    }
    updateChartNow(nav);
    updateIntraday(nav);
  }

  // --- Equity vs benchmark (SVG, drawn from #ov-chart-data) ------------------------------
  let chart = null;
  function el(name, attrs, text) {
    const node = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function drawChart() {
    const svg = $("ov-chart");
    const dataEl = $("ov-chart-data");
    if (!svg || !dataEl) return;
    chart = JSON.parse(dataEl.textContent);
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const W = 640, H = 230, L = 70, R = 8, T = 8, B = 22;
    const series = [chart.bench || [], chart.equity || []];
    const dates = Array.from(new Set(series[0].concat(series[1]).map(function (p) { return p[0]; }))).sort();
    if (!dates.length) return;
    const values = series[0].concat(series[1]).map(function (p) { return p[1]; });
    let lo = Math.min.apply(null, values), hi = Math.max.apply(null, values);
    if (hi - lo < hi * 0.002) { lo -= hi * 0.001 + 1; hi += hi * 0.001 + 1; }
    const pad = (hi - lo) * 0.08; lo -= pad; hi += pad;
    const xi = {}; dates.forEach(function (d, i) { xi[d] = i; });
    const x = function (d) { return L + (dates.length > 1 ? xi[d] / (dates.length - 1) : 0.5) * (W - L - R); };
    const y = function (v) { return T + (1 - (v - lo) / (hi - lo)) * (H - T - B); };
    chart.scale = { x: x, y: y, lo: lo, hi: hi };
    // Grid and labels: four horizontal lines, first / middle / last dates.
    for (let i = 0; i <= 4; i += 1) {
      const v = lo + (hi - lo) * i / 4;
      svg.appendChild(el("line", { class: "gridline", x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      svg.appendChild(el("text", { class: "tick", x: L - 6, y: y(v), "text-anchor": "end", "dominant-baseline": "middle" }, desk.fmtNum(v, 0)));
    }
    [0, Math.floor((dates.length - 1) / 2), dates.length - 1].forEach(function (i, k) {
      svg.appendChild(el("text", { class: "tick", x: x(dates[i]), y: H - 6, "text-anchor": k === 0 ? "start" : (k === 2 ? "end" : "middle") }, dates[i]));
    });
    function line(points, cls) {
      if (!points.length) return null;
      const str = points.map(function (p) { return x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1); }).join(" ");
      const pl = el("polyline", { class: cls, points: str });
      svg.appendChild(pl);
      return pl;
    }
    chart.benchLine = line(series[0], "bench");
    chart.equityLine = line(series[1], "equity");
    const last = series[1][series[1].length - 1];
    if (last) {
      chart.dot = el("circle", { class: "equity-dot", cx: x(last[0]), cy: y(last[1]), r: 3.5 });
      chart.dot.appendChild(el("title", {}, "NAV now " + money(last[1]) + " USD"));
      svg.appendChild(chart.dot);
    }
  }
  function updateChartNow(nav) {
    if (!chart || !chart.scale || !chart.equityLine || !chart.equity.length) return;
    const last = chart.equity[chart.equity.length - 1];
    if (nav < chart.scale.lo || nav > chart.scale.hi) { last[1] = nav; $("ov-chart-data").textContent = JSON.stringify(chart); drawChart(); return; }
    last[1] = nav;
    const pts = chart.equityLine.getAttribute("points").split(" ");
    pts[pts.length - 1] = chart.scale.x(last[0]).toFixed(1) + "," + chart.scale.y(nav).toFixed(1);
    chart.equityLine.setAttribute("points", pts.join(" "));
    if (chart.dot) chart.dot.setAttribute("cy", chart.scale.y(nav));
  }

  // --- Today: NAV since the open (left axis) and P&L against the previous close (right) ----
  let intraday = null;
  function drawIntraday() {
    const svg = $("ov-intraday-chart");
    const dataEl = $("ov-intraday-data");
    if (!svg || !dataEl) return;
    intraday = JSON.parse(dataEl.textContent);
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const pts = intraday.points || [];
    if (!pts.length || !intraday.open) return;
    const W = 480, H = 230, L = 74, R = 62, T = 8, B = 22;
    const t0 = Date.parse(intraday.open), t1 = Date.parse(intraday.close);
    const prev = intraday.prev_nav;
    const values = pts.map(function (p) { return p[1]; });
    if (prev !== null && prev !== undefined) values.push(prev);
    let lo = Math.min.apply(null, values), hi = Math.max.apply(null, values);
    if (hi - lo < Math.abs(hi) * 0.0005) { lo -= Math.abs(hi) * 0.0005 + 1; hi += Math.abs(hi) * 0.0005 + 1; }
    const pad = (hi - lo) * 0.1; lo -= pad; hi += pad;
    const x = function (iso) { return L + Math.max(0, Math.min(1, (Date.parse(iso) - t0) / (t1 - t0))) * (W - L - R); };
    const y = function (v) { return T + (1 - (v - lo) / (hi - lo)) * (H - T - B); };
    intraday.scale = { x: x, y: y, lo: lo, hi: hi };
    for (let i = 0; i <= 4; i += 1) {
      const v = lo + (hi - lo) * i / 4;
      svg.appendChild(el("line", { class: "gridline", x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      svg.appendChild(el("text", { class: "tick", x: L - 6, y: y(v), "text-anchor": "end", "dominant-baseline": "middle" }, desk.fmtNum(v, 0)));
      if (prev !== null && prev !== undefined) {
        const p = v - prev;
        svg.appendChild(el("text", { class: "tick", x: W - R + 6, y: y(v), "text-anchor": "start", "dominant-baseline": "middle" }, (p > 0 ? "+" : (p < 0 ? "-" : "")) + desk.fmtNum(Math.abs(p), 0)));
      }
    }
    if (prev !== null && prev !== undefined) svg.appendChild(el("line", { class: "zero", x1: L, x2: W - R, y1: y(prev), y2: y(prev) }));
    [intraday.open, intraday.close].forEach(function (iso, k) {
      svg.appendChild(el("text", { class: "tick", x: x(iso), y: H - 6, "text-anchor": k === 0 ? "start" : "end" }, desk.fmtTime(iso)));
    });
    const line = el("polyline", { class: "equity", points: pts.map(function (p) { return x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1); }).join(" ") });
    svg.appendChild(line);
    intraday.line = line;
    const last = pts[pts.length - 1];
    intraday.dot = el("circle", { class: "equity-dot", cx: x(last[0]), cy: y(last[1]), r: 3.5 });
    svg.appendChild(intraday.dot);
  }
  function updateIntraday(nav) {
    if (!intraday || !intraday.scale || !intraday.points || !intraday.points.length) return;
    const pts = intraday.points;
    const last = pts[pts.length - 1];
    const ts = lastTickTs || last[0];
    if (Date.parse(ts) > Date.parse(intraday.close)) return;
    // A new point each market minute; within the minute the last point moves.
    if (Date.parse(ts) - Date.parse(last[0]) >= 60000) pts.push([ts, nav]); else { last[1] = nav; }
    if (nav < intraday.scale.lo || nav > intraday.scale.hi) {
      const keep = { points: pts, open: intraday.open, close: intraday.close, prev_nav: intraday.prev_nav };
      $("ov-intraday-data").textContent = JSON.stringify(keep);
      drawIntraday();
      return;
    }
    const s = intraday.scale;
    intraday.line.setAttribute("points", pts.map(function (p) { return s.x(p[0]).toFixed(1) + "," + s.y(p[1]).toFixed(1); }).join(" "));
    const end = pts[pts.length - 1];
    intraday.dot.setAttribute("cx", s.x(end[0]));
    intraday.dot.setAttribute("cy", s.y(end[1]));
    intraday.dot.dataset.nav = String(end[1]);
  }

  // --- Working orders: progress in place ------------------------------------------------
  function updateWorking(d) {
    if (d.parent_id) return false;
    const tr = document.querySelector('#working-rows tr[data-order-id="' + d.id + '"]');
    if (!tr) return false;
    const q = num(d.quantity) || num(tr.dataset.qty) || 0;
    const f = num(d.filled_qty) || 0;
    flashing = true;
    setText(tr.querySelector('[data-cell="filled"]'), qty(f));
    const bar = tr.querySelector('[data-cell="progress"]');
    if (bar && q) bar.value = f / q;
    setText(tr.querySelector('[data-cell="pct"]'), q ? Math.round(f / q * 100) + "%" : "—");
    if (d.avg_px !== null && d.avg_px !== undefined) setText(tr.querySelector('[data-cell="avg"]'), px(num(d.avg_px)));
    setText(tr.querySelector('[data-cell="status"]'), d.status);
    flashing = false;
    tr.dataset.status = d.status;
    tr.dataset.filled = String(f);
    const open = ["INITIALIZED", "SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED", "PENDING_UPDATE", "PENDING_CANCEL"];
    if (open.indexOf(d.status) < 0) tr.classList.add("done");
    return true;
  }

  // --- Fills ticker ----------------------------------------------------------------------
  function cell(text, cls) { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; return td; }
  function prependFill(d) {
    const body = $("fill-rows");
    if (!body) return;
    const ph = body.querySelector("tr.placeholder"); if (ph) ph.remove();
    const tr = document.createElement("tr");
    tr.className = "fresh";
    tr.dataset.tradeId = d.trade_id;
    tr.appendChild(cell(desk.fmtTime(d.ts_event, true), "num"));
    tr.appendChild(cell(d.side, "side-" + String(d.side).toLowerCase()));
    tr.appendChild(cell(d.symbol));
    tr.appendChild(cell(qty(num(d.last_qty)), "num"));
    tr.appendChild(cell(px(num(d.last_px)), "num"));
    tr.appendChild(cell(d.venue || "—"));
    tr.appendChild(cell(d.client_order_id || "", "muted"));
    body.insertBefore(tr, body.firstChild);
    const max = parseInt(body.dataset.maxRows || "30", 10);
    while (body.rows.length > max) body.deleteRow(body.rows.length - 1);
  }

  // --- Re-fetch the server-drawn panels ------------------------------------------------
  let timer = null;
  let inflight = false;
  function refreshSoon(delay) {
    clearTimeout(timer);
    timer = setTimeout(refresh, delay === undefined ? 600 : delay);
  }
  async function refresh() {
    if (inflight) { refreshSoon(); return; }
    const active = document.activeElement;
    if (active && active.id === "ov-portfolio") { refreshSoon(2000); return; }
    inflight = true;
    try {
      const resp = await fetch(location.href, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } });
      if (!resp.ok) return;
      const doc = new DOMParser().parseFromString(await resp.text(), "text/html");
      document.querySelectorAll("#ov-root [data-panel]").forEach(function (old) {
        const fresh = doc.getElementById(old.id);
        if (fresh) old.replaceWith(document.importNode(fresh, true));
      });
      const data = doc.getElementById("ov-chart-data");
      const mine = $("ov-chart-data");
      if (data && mine) mine.textContent = data.textContent;
      const day = doc.getElementById("ov-intraday-data");
      const myDay = $("ov-intraday-data");
      if (day && myDay) myDay.textContent = day.textContent;
      wirePicker();
      drawChart();
      drawIntraday();
      revalue();
    } catch (e) {
      console.error("overview: refresh failed", e);
    } finally {
      inflight = false;
    }
  }

  function wirePicker() {
    const pick = $("ov-portfolio");
    if (pick) pick.addEventListener("change", function () { location.search = "?id=" + encodeURIComponent(pick.value); });
  }

  function mine(msg) { return Number(msg.data && msg.data.portfolio_id) === portfolioId; }
  if (window.desk && portfolioId) {
    window.desk.on("price.tick", function (msg) {
      const ticks = msg.data.ticks || {};
      let touched = false;
      if (msg.data.ts) lastTickTs = msg.data.ts;
      Object.keys(ticks).forEach(function (s) {
        const p = num(ticks[s] && ticks[s].px);
        if (p !== null) { lastTick[s] = p; touched = true; }
      });
      if (touched) revalue();
    });
    window.desk.on("fill.created", function (msg) {
      if (!mine(msg)) return;
      const d = msg.data;
      prependFill(d);
      const kpis = $("ov-kpis");
      if (kpis && d.cash !== undefined) kpis.dataset.cash = String(d.cash);
      const row = document.querySelector('#ov-position-table tr[data-symbol="' + d.symbol + '"]');
      if (row && d.position_qty !== undefined) row.dataset.qty = String(d.position_qty);
      if (lastTick[d.symbol] === undefined) lastTick[d.symbol] = num(d.last_px);
      flashing = true; revalue(); flashing = false;
      if (!row) refreshSoon(); else refreshSoon(1500);  // a new symbol needs the server's row
    });
    window.desk.on("order.updated", function (msg) {
      if (!mine(msg)) return;
      const d = msg.data;
      if (d.parent_id) return;  // a child slice: its parent's update follows
      if (!updateWorking(d)) refreshSoon(1000);  // a new working order needs the server's row
      else if (document.querySelector('#working-rows tr[data-order-id="' + d.id + '"].done')) refreshSoon(3000);
    });
    ["proposal.updated", "alert.raised", "alert.updated", "alert.resolved"].forEach(function (t) {
      window.desk.on(t, function (msg) { if (!msg.data.portfolio_id || mine(msg)) refreshSoon(); });
    });
    window.desk.on("risk.state_changed", function (msg) {
      const deskCell = $("ov-desk-state");
      if (deskCell && (!msg.data.scope || msg.data.scope === "desk")) deskCell.textContent = msg.data.state;
      const badge = $("kpi-state");
      if (badge && msg.data.scope === badge.dataset.scope) {
        badge.textContent = msg.data.state;
        badge.className = "tstate tstate-" + String(msg.data.state).toLowerCase();
      }
      refreshSoon();
    });
    window.desk.on("resync", function () { refreshSoon(100); });
  }
  wirePicker();
  drawChart();
  drawIntraday();
})();
