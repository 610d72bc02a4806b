// The Backtests pages: progress bars that advance live ("run.progress" events), and
// the compare button, enabled once two or more runs are ticked. No inline script:
// the pages work without this file (the form posts, the compare form is a GET).
(function () {
  "use strict";

  function pct(x) { return Math.round(Math.max(0, Math.min(1, Number(x) || 0)) * 100) + "%"; }

  function setProgress(el, data) {
    if (!el) return;
    const status = data.status;
    if (status === "done" || status === "failed") {
      el.textContent = status;
      return;
    }
    let bar = el.querySelector("progress");
    if (!bar) {
      el.textContent = "";
      bar = document.createElement("progress");
      bar.max = 1;
      el.appendChild(bar);
      const label = document.createElement("span");
      label.className = "run-pct";
      el.appendChild(document.createTextNode(" "));
      el.appendChild(label);
    }
    bar.value = Number(data.progress) || 0;
    const label = el.querySelector(".run-pct");
    if (label) label.textContent = pct(data.progress);
  }

  function onProgress(msg) {
    const data = msg.data || {};
    const row = document.querySelector('#runs-table tr[data-run="' + data.run_id + '"]');
    if (row) {
      setProgress(row.querySelector(".run-status"), data);
      row.dataset.status = data.status;
      if (data.final_value) {
        const cell = row.querySelector(".run-final");
        if (cell) cell.textContent = Number(data.final_value).toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
      }
      if (data.status === "done") row.classList.add("flash");
    } else if (document.getElementById("runs-table") && data.status === "running" && Number(data.progress) === 0) {
      // A run someone else started: show it on the next load rather than invent its row here.
      const note = document.getElementById("runs-new");
      if (note) note.hidden = false;
    }
    const detail = document.getElementById("run-detail");
    if (detail && String(detail.dataset.run) === String(data.run_id)) {
      setProgress(detail.querySelector(".run-status"), data);
      if ((data.status === "done" || data.status === "failed") && detail.dataset.status !== data.status) {
        detail.dataset.status = data.status;
        window.location.reload(); // charts, metrics and trades are drawn by the server
      }
    }
  }

  function wireCompare() {
    const form = document.getElementById("compare-form");
    const button = document.getElementById("compare-button");
    if (!form || !button) return;
    function update() {
      const ticked = form.querySelectorAll('input[name="ids"]:checked').length;
      button.disabled = ticked < 2;
      button.textContent = ticked < 2 ? "Compare ticked runs" : "Compare " + ticked + " runs";
    }
    form.addEventListener("change", update);
    update();
  }

  wireCompare();
  if (window.desk) {
    window.desk.on("run.progress", onProgress);
    window.desk.on("resync", function () {
      const detail = document.getElementById("run-detail");
      if (detail && (detail.dataset.status === "queued" || detail.dataset.status === "running")) window.location.reload();
    });
  }
})();
