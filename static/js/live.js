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

  window.desk = {
    on: function (type, fn) { (handlers[type] = handlers[type] || []).push(fn); },
  };

  // Frame-wide: heartbeat on the overview, trading state everywhere.
  let beats = 0;
  window.desk.on("heartbeat", function (msg) {
    beats += 1;
    const at = document.getElementById("heartbeat-at");
    if (at) { at.textContent = new Date(msg.data.ts).toLocaleTimeString(); at.classList.remove("flash"); void at.offsetWidth; at.classList.add("flash"); }
    const w = document.getElementById("heartbeat-worker"); if (w) w.textContent = msg.data.worker;
    const c = document.getElementById("heartbeat-count"); if (c) c.textContent = String(beats);
    const mt = document.getElementById("market-time"); if (mt && msg.data.market_time) mt.textContent = msg.data.market_time.replace("T", " ").slice(0, 19) + " UTC";
  });
  window.desk.on("risk.state_changed", function (msg) {
    if (msg.data.scope && msg.data.scope !== "desk") return;
    const el = document.getElementById("trading-state");
    const state = msg.data.state;
    if (el) { el.textContent = state; el.className = "tstate tstate-" + state.toLowerCase(); }
    document.body.className = document.body.className.replace(/state-\w+/, "state-" + state.toLowerCase());
  });

  connect();
})();
