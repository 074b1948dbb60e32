// replayer serve: what JavaScript does better than the plain pages. Every page works without it.
"use strict";

// The mapped headers the chosen file lacks, read from its first line before anything is sent.
function fileHeaders(text) {
  text = text.replace(/^\uFEFF/, "");
  let lines = text.split(/\r\n|\n|\r/);
  let delimiter = null;
  let sep = /^"?sep=(.)"?$/i.exec(lines[0] || "");
  if (sep) { delimiter = sep[1]; lines.shift(); }
  return { line: lines[0] || "", delimiter: delimiter };
}

function splitLine(line, delimiter) {
  let cells = [], cell = "", quoted = false;
  for (let i = 0; i < line.length; i++) {
    let c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') { cell += '"'; i++; }
      else if (c === '"') { quoted = false; }
      else { cell += c; }
    } else if (c === '"' && cell.trim() === "") { quoted = true; cell = ""; }
    else if (c === delimiter) { cells.push(cell); cell = ""; }
    else { cell += c; }
  }
  cells.push(cell);
  return cells.map(function (h) { return h.trim().toLowerCase(); });
}

function missingHeaders(text, wanted) {
  let head = fileHeaders(text);
  let delimiters = head.delimiter ? [head.delimiter] : [",", ";", "\t", "|"];
  let best = null;
  delimiters.forEach(function (d) {
    let headers = splitLine(head.line, d);
    let missing = wanted.filter(function (w) { return headers.indexOf(w.trim().toLowerCase()) < 0; });
    if (best === null || missing.length < best.length) { best = missing; }
  });
  return best || [];
}

// A ZIP archive (.xlsx, .xlsm, .ods) or an OLE compound file (.xls), by its first bytes.
function isWorkbook(bytes) {
  let zip = bytes[0] === 0x50 && bytes[1] === 0x4B && bytes[2] === 0x03 && bytes[3] === 0x04;
  let ole = bytes[0] === 0xD0 && bytes[1] === 0xCF && bytes[2] === 0x11 && bytes[3] === 0xE0;
  return zip || ole;
}

function decodeHead(buffer) {
  let bytes = new Uint8Array(buffer);
  let label = "utf-8";
  if (bytes[0] === 0xFF && bytes[1] === 0xFE) { label = "utf-16le"; }
  else if (bytes[0] === 0xFE && bytes[1] === 0xFF) { label = "utf-16be"; }
  else if (bytes.length > 3 && bytes[1] === 0 && bytes[3] === 0) { label = "utf-16le"; }
  else if (bytes.length > 3 && bytes[0] === 0 && bytes[2] === 0) { label = "utf-16be"; }
  return new TextDecoder(label).decode(bytes);
}

function setupUploadForm(form) {
  let fileInput = document.getElementById("file");
  let clientSelect = document.getElementById("client");
  let message = document.getElementById("header-check");
  let button = document.getElementById("upload-button");
  let progress = document.getElementById("upload-progress");
  let missing = [];

  function check() {
    missing = [];
    message.textContent = "";
    message.className = "";
    button.disabled = false;
    let file = fileInput.files && fileInput.files[0];
    let option = clientSelect.options[clientSelect.selectedIndex];
    if (!file || !option) { return; }
    let wanted = JSON.parse(option.getAttribute("data-headers") || "[]");
    file.slice(0, 64 * 1024).arrayBuffer().then(function (buffer) {
      if (isWorkbook(new Uint8Array(buffer))) {
        message.className = "ok";
        message.textContent = "This is an Excel or OpenDocument workbook: its headers are checked after the upload.";
        return;
      }
      missing = missingHeaders(decodeHead(buffer), wanted);
      if (missing.length > 0) {
        // Not a dead end (SPEC §13): the upload goes through, and its columns are matched after it.
        message.className = "warn";
        message.textContent = "This file's columns are named differently from what the mapping of " + option.textContent.trim() +
          " expects: " + missing.length + " header" + (missing.length === 1 ? " is" : "s are") + " not there (" +
          missing.map(function (h) { return '"' + h + '"'; }).join(", ") +
          "). You can upload it anyway: you will match its columns to the mapping after the upload.";
      } else {
        message.className = "ok";
        message.textContent = "Every header the mapping of " + option.value + " reads is there.";
      }
    });
  }
  fileInput.addEventListener("change", check);
  clientSelect.addEventListener("change", check);

  form.addEventListener("submit", function (event) {
    if (!window.XMLHttpRequest || !window.FormData) { return; }
    event.preventDefault();
    let request = new XMLHttpRequest();
    request.open("POST", form.action);
    // The token in a header too: the server checks it before reading any of the file.
    let token = form.querySelector("input[name=csrf]");
    if (token) { request.setRequestHeader("X-CSRF-Token", token.value); }
    progress.hidden = false;
    button.disabled = true;
    request.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) { progress.value = Math.round(100 * e.loaded / e.total); }
    });
    request.addEventListener("load", function () {
      if (request.status < 400 && request.responseURL) { window.location.href = request.responseURL; return; }
      let page = new DOMParser().parseFromString(request.responseText, "text/html");
      let error = page.getElementById("error");
      message.className = "error";
      message.textContent = error ? error.textContent : "The upload failed (" + request.status + ").";
      progress.hidden = true;
      button.disabled = false;
    });
    request.addEventListener("error", function () {
      message.className = "error";
      message.textContent = "The upload was cut off; check the connection and try again.";
      progress.hidden = true;
      button.disabled = false;
    });
    request.send(new FormData(form));
  });
}

// While a check runs, its page shows the row it has reached, and reloads when it is done.
function followCheck(upload) {
  let id = upload.getAttribute("data-id");
  let counter = document.getElementById("rows-so-far");
  function poll() {
    fetch("/api/uploads/" + id, { credentials: "same-origin" }).then(function (response) {
      return response.json();
    }).then(function (data) {
      if (data.state !== "checking") { window.location.reload(); return; }
      if (counter && data.counts && data.counts.rows_so_far !== undefined) { counter.textContent = data.counts.rows_so_far; }
      setTimeout(poll, 1000);
    }).catch(function () { setTimeout(poll, 2000); });
  }
  setTimeout(poll, 500);
}

// The grid of rows to fix (SPEC §12): a changed cell, or "leave out", is sent at once and the
// row shows its new state without a reload. Without JavaScript, each row's Save does the same.
function setupGrid(grid) {
  let id = grid.getAttribute("data-upload");
  let words = { valid: "ready", exception: "needs a fix", excluded: "left out", blank: "empty" };
  function show(tr, data) {
    tr.className = "grid-row " + data.state;
    tr.querySelector("td.state").textContent = words[data.state] || data.state;
    let bad = {};
    (data.problems || []).forEach(function (p) { if (p.column) { bad[p.column] = true; } });
    tr.querySelectorAll("input[name^='c:']").forEach(function (input) {
      let header = input.name.slice(2);
      input.parentNode.className = bad[header] ? "cell bad" : "cell";
      if (input.getAttribute("data-masked")) { input.value = ""; }
    });
    let problems = document.getElementById("problems-" + data.row);
    if (problems) {
      let cell = problems.firstElementChild;
      cell.textContent = "";
      (data.problems || []).forEach(function (p) {
        let line = document.createElement("div");
        line.className = p.severity || "";
        line.textContent = (p.column || "the row") + ": " + p.message;
        cell.appendChild(line);
      });
    }
  }
  function send(tr, body) {
    let row = tr.getAttribute("data-row");
    let token = document.querySelector("#row-form-" + row + " input[name=csrf]");
    tr.classList.add("saving");
    fetch("/api/uploads/" + id + "/rows/" + row, {
      method: "PATCH",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": token ? token.value : "" },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (data) { return { ok: response.ok, data: data }; });
    }).then(function (answer) {
      tr.classList.remove("saving");
      if (answer.ok) { show(tr, answer.data); }
      else { alert(answer.data.error || "The change could not be made."); }
    }).catch(function () {
      tr.classList.remove("saving");
      alert("The change could not be sent; check the connection and try again.");
    });
  }
  grid.addEventListener("change", function (event) {
    let input = event.target;
    let tr = input.closest("tr.grid-row");
    if (!tr) { return; }
    if (input.name === "excluded") { send(tr, { excluded: input.checked }); return; }
    if (input.name.indexOf("c:") !== 0) { return; }
    if (input.getAttribute("data-masked") && input.value === "") { return; }
    let cells = {};
    cells[input.name.slice(2)] = input.value;
    send(tr, { cells: cells });
  });
}

document.addEventListener("DOMContentLoaded", function () {
  let grid = document.getElementById("grid");
  if (grid) { setupGrid(grid); }
  let form = document.getElementById("upload-form");
  if (form) { setupUploadForm(form); }
  let upload = document.getElementById("upload");
  if (upload && upload.getAttribute("data-state") === "checking") { followCheck(upload); }
});
