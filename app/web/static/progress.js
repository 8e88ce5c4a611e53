// Live progress of documents in a list (#documents): polls the page's progress URL for
// every document still in flight and updates its row in place. No framework: rows are
// server-rendered, and new ones are cloned from the page's <template>.
"use strict";

window.DocProgress = (function () {
  const list = document.getElementById("documents");
  if (!list) return null;
  const POLL_MS = 1500;
  let timer = null;

  function setField(row, name, value) {
    row.querySelectorAll('[data-field="' + name + '"]').forEach(function (el) {
      el.textContent = value == null ? "" : value;
    });
  }

  function update(row, item) {
    const changed = row.dataset.status !== item.status;
    row.dataset.status = item.status;
    setField(row, "status_label", item.status_label);
    setField(row, "type_label", item.type_label);
    setField(row, "uploaded_at", item.uploaded_at);
    const badge = row.querySelector(".badge");
    badge.className = "badge status-" + item.status;
    const bar = row.querySelector("progress");
    bar.max = item.stage_count;
    bar.value = item.stages_done;
    bar.textContent = item.stages_done + " of " + item.stage_count;
    item.stages.forEach(function (stage) {
      const chip = row.querySelector('[data-stage="' + stage.name + '"]');
      if (!chip) return;
      chip.className = "stage st-" + stage.status;
      setField(chip, "stage_status", ": " + stage.status.replace("_", " "));
    });
    const reason = row.querySelector(".reason");
    reason.textContent = item.reason || "";
    reason.hidden = !item.reason;
    row.querySelector("form.reprocess").hidden = !item.can_reprocess;
    if (changed && !item.in_flight) {
      row.dispatchEvent(new CustomEvent("doc:finished", { bubbles: true, detail: item }));
    }
  }

  function addRow(id, filename) {
    const template = document.getElementById("document-row-template");
    const holder = document.createElement("div");
    holder.appendChild(template.content.cloneNode(true));
    const row = holder.querySelector(".doc");
    row.dataset.id = id;
    const link = row.querySelector(".doc-name");
    link.href = link.getAttribute("href").replace("__ID__", id);
    link.textContent = filename;
    const form = row.querySelector("form.reprocess");
    form.action = form.getAttribute("action").replace("__ID__", id);
    const empty = document.getElementById("no-documents");
    if (empty) empty.hidden = true;
    const total = document.getElementById("documents-total");
    if (total) total.textContent = String(Number(total.textContent) + 1);
    list.prepend(row);
    schedule(0);
    return row;
  }

  function inFlight() {
    return Array.prototype.filter.call(list.querySelectorAll(".doc"), function (row) {
      return row.dataset.status === "uploaded" || row.dataset.status === "processing";
    });
  }

  function poll() {
    timer = null;
    const rows = inFlight();
    if (!rows.length) return;
    const ids = rows.map(function (row) { return row.dataset.id; });
    const url = list.dataset.progressUrl + "?ids=" + encodeURIComponent(ids.join(","));
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("progress " + response.status);
        return response.json();
      })
      .then(function (body) {
        body.items.forEach(function (item) {
          const row = list.querySelector('.doc[data-id="' + item.id + '"]');
          if (row) update(row, item);
        });
      })
      .catch(function () { /* a missed poll is retried on the next tick */ })
      .then(function () { schedule(POLL_MS); });
  }

  function schedule(delay) {
    if (timer === null) timer = window.setTimeout(poll, delay);
  }

  schedule(POLL_MS);
  return { addRow: addRow, list: list };
})();
