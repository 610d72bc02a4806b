// The one live channel per browser: connect, show live/reconnecting, dispatch typed events.
// Pages subscribe with window.desk.on("fill.created", fn). A gap in a group's sequence
// numbers, or a reconnect, fires "resync" so each panel re-fetches over HTTP.
(function () {
  "use strict";
  const handlers = {};
  const lastSeq = {};
  const indicator = document.getElementById("live-indicator");
  let retry = 0;
  let everConnected = false;

  function emit(type, msg) { (handlers[type] || []).forEach(function (fn) { try { fn(msg); } catch (e) { console.error(e); } }); }
  function setLive(on) {
    if (!indicator) return;
    indicator.textContent = on ? "● live" : "○ reconnecting";
    indicator.className = "live " + (on ? "on" : "off");
  }

  function connect() {
    const proto = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(proto + location.host + "/ws/desk/");
    ws.onopen = function () {
      setLive(true);
      if (everConnected) emit("resync", { reason: "reconnect" });
      everConnected = true;
      retry = 0;
    };
    ws.onmessage = function (ev) {
      const msg = JSON.parse(ev.data);
      if (msg.group && typeof msg.seq === "number") {
        const prev = lastSeq[msg.group];
        if (prev !== undefined && msg.seq > prev + 1) emit("resync", { reason: "gap", group: msg.group });
        lastSeq[msg.group] = msg.seq;
      }
      emit(msg.type, msg);
    };
    ws.onclose = function (ev) {
      setLive(false);
      if (ev.code === 4401) { location.href = "/login/?next=" + encodeURIComponent(location.pathname); return; }
      retry = Math.min(retry + 1, 6);
      setTimeout(connect, 250 * Math.pow(2, retry));
    };
  }

  const tz = document.body.dataset.tz || undefined;
  // Times in the desk's display time zone (DESK_DISPLAY_TZ), 24-hour, with milliseconds when asked.
  function fmtTime(iso, ms) {
    if (!iso) return "—";
    const d = new Date(iso);
    const s = d.toLocaleTimeString("en-GB", { timeZone: tz, hour12: false });
    return ms ? s + "." + String(d.getMilliseconds()).padStart(3, "0") : s;
  }
  function fmtDateTime(iso) {
    if (!iso) return "—";
    const d = new Date(iso);
    return d.toLocaleDateString("en-CA", { timeZone: tz }) + " " + fmtTime(iso);
  }
  function fmtNum(value, places) {
    const n = Number(value);
    if (!Number.isFinite(n)) return "—";
    return n.toLocaleString("en-US", { minimumFractionDigits: places, maximumFractionDigits: places });
  }

  window.desk = {
    on: function (type, fn) { (handlers[type] = handlers[type] || []).push(fn); },
    fmtTime: fmtTime,
    fmtDateTime: fmtDateTime,
    fmtNum: fmtNum,
    tz: tz,
  };

  // Frame-wide: heartbeat on the overview, trading state everywhere.
  let beats = 0;
  window.desk.on("heartbeat", function (msg) {
    beats += 1;
    const at = document.getElementById("heartbeat-at");
    if (at) { at.textContent = fmtTime(msg.data.ts); at.classList.remove("flash"); void at.offsetWidth; at.classList.add("flash"); }
    const w = document.getElementById("heartbeat-worker"); if (w) w.textContent = msg.data.worker;
    const c = document.getElementById("heartbeat-count"); if (c) c.textContent = String(beats);
    const mt = document.getElementById("market-time"); if (mt && msg.data.market_time) mt.textContent = fmtDateTime(msg.data.market_time);
  });
  window.desk.on("risk.state_changed", function (msg) {
    if (msg.data.scope && msg.data.scope !== "desk") return;
    const el = document.getElementById("trading-state");
    const state = msg.data.state;
    if (el) { el.textContent = state; el.className = "tstate tstate-" + state.toLowerCase(); }
    document.body.className = document.body.className.replace(/state-\w+/, "state-" + state.toLowerCase());
  });

  // The alerts badge: active count from the event when it carries one, else counted here.
  function setAlerts(fn) {
    const el = document.getElementById("alert-count");
    if (!el) return;
    const next = Math.max(0, fn(parseInt(el.textContent, 10) || 0));
    el.textContent = String(next);
    const badge = document.getElementById("alert-badge");
    if (badge) badge.classList.toggle("active", next > 0);
  }
  window.desk.on("alert.raised", function (msg) { setAlerts(function (n) { return msg.data.active_count !== undefined ? msg.data.active_count : n + 1; }); });
  window.desk.on("alert.resolved", function (msg) { setAlerts(function (n) { return msg.data.active_count !== undefined ? msg.data.active_count : n - 1; }); });

  connect();
})();
