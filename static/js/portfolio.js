// Portfolio page: positions, account, allocation and frontier are drawn by the server; when a fill,
// a parent order's change or a proposal of a portfolio on the page arrives, reload the page (debounced, at most
// every few seconds, so a burst of fills costs one reload).
(function () {
  "use strict";
  const root = document.getElementById("portfolio-root");
  if (!root || !window.desk) return;
  const ids = (root.dataset.portfolios || "").split(",").filter(Boolean).map(Number);
  let timer = null;
  let last = Date.now();
  function reloadSoon() {
    if (timer) return;
    const wait = Math.max(500, 5000 - (Date.now() - last));
    timer = setTimeout(function () {
      if (document.activeElement && document.activeElement.tagName === "INPUT") { timer = null; return; }
      last = Date.now();
      location.reload();
    }, wait);
  }
  function mine(msg) { return ids.indexOf(Number(msg.data && msg.data.portfolio_id)) >= 0; }
  window.desk.on("fill.created", function (msg) { if (mine(msg)) reloadSoon(); });
  // A submitted, amended, cancelled or finished order moves what is reserved of the buying power.
  window.desk.on("order.updated", function (msg) { if (mine(msg) && !(msg.data && msg.data.parent_id)) reloadSoon(); });
  window.desk.on("proposal.updated", function (msg) { if (mine(msg)) reloadSoon(); });
  window.desk.on("resync", reloadSoon);
})();
