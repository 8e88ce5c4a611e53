// Uploads picked or dropped files one request each, so every file has its own progress
// bar (XMLHttpRequest reports upload progress; fetch does not). The CSRF token goes in
// the X-CSRFToken header. Without this script the form posts the files as usual.
"use strict";

(function () {
  const form = document.getElementById("upload-form");
  if (!form || !window.DocProgress) return;
  const input = document.getElementById("file-input");
  const zone = document.getElementById("drop-zone");
  const uploads = document.getElementById("upload-list");
  const token = document.querySelector('meta[name="csrf-token"]').content;
  const maxBytes = Number(form.dataset.maxBytes);
  document.getElementById("upload-submit").hidden = true;

  function entry(file) {
    const li = document.createElement("li");
    const name = document.createElement("span");
    name.textContent = file.name;
    const state = document.createElement("span");
    state.className = "muted";
    state.textContent = "waiting";
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", "Upload of " + file.name);
    const note = document.createElement("span");
    note.className = "upload-note";
    li.append(name, state, bar, note);
    uploads.prepend(li);
    return { li: li, state: state, bar: bar, note: note };
  }

  function fail(view, message) {
    view.state.textContent = "not uploaded";
    view.note.textContent = message;
    view.note.classList.add("reason");
  }

  function send(file) {
    const view = entry(file);
    if (file.size > maxBytes) {
      fail(view, "This file is larger than the limit.");
      return;
    }
    const body = new FormData();
    body.append("file", file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-CSRFToken", token);
    xhr.setRequestHeader("Accept", "application/json");
    if (window.crypto && crypto.randomUUID) xhr.setRequestHeader("Idempotency-Key", crypto.randomUUID());
    xhr.upload.addEventListener("progress", function (event) {
      if (event.lengthComputable) {
        view.bar.value = Math.round((100 * event.loaded) / event.total);
        view.state.textContent = view.bar.value + "%";
      }
    });
    xhr.addEventListener("load", function () {
      let answer = {};
      try { answer = JSON.parse(xhr.responseText); } catch (e) { answer = {}; }
      if (xhr.status === 201 || xhr.status === 200) {
        view.bar.value = 100;
        view.state.textContent = answer.duplicate ? "already here" : "uploaded";
        const existing = DocProgress.list.querySelector('.doc[data-id="' + answer.id + '"]');
        if (!existing) DocProgress.addRow(answer.id, file.name);
      } else {
        fail(view, (answer.error && answer.error.message) || "The upload failed (" + xhr.status + ").");
      }
    });
    xhr.addEventListener("error", function () { fail(view, "The connection failed; try again."); });
    view.state.textContent = "0%";
    xhr.send(body);
  }

  function sendAll(files) {
    Array.prototype.forEach.call(files, send);
  }

  input.addEventListener("change", function () {
    sendAll(input.files);
    input.value = "";
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    sendAll(input.files);
    input.value = "";
  });
  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (event) {
      event.preventDefault();
      zone.classList.add("over");
    });
  });
  ["dragleave", "drop"].forEach(function (name) {
    zone.addEventListener(name, function () { zone.classList.remove("over"); });
  });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) sendAll(event.dataTransfer.files);
  });
})();
