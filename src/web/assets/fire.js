// The live progress of a fire: server-sent events update the counts; at the end the page is
// loaded again to show the results. Without JavaScript the page refreshes itself instead.
(function () {
  "use strict";
  var box = document.getElementById("fire");
  if (!box || !window.EventSource) { return; }
  var set = function (id, text) {
    var element = document.getElementById(id);
    if (element) { element.textContent = text; }
  };
  var source = new EventSource("/uploads/" + box.dataset.id + "/events");
  source.addEventListener("progress", function (event) {
    var p = JSON.parse(event.data);
    set("fire-done", p.done);
    set("fire-total", p.total);
    set("fire-rate", p.rate + "/s");
    var eta = p.eta_seconds;
    set("fire-eta", eta === null ? "…" : Math.floor(eta / 60) + ":" + String(eta % 60).padStart(2, "0"));
    set("fire-accepted", p.accepted);
    set("fire-refused", p.refused);
    set("fire-failed", p.failed);
    set("fire-already", p.already_fired);
    set("fire-status", p.cancelling ? "cancelling" : "firing");
    var bar = document.getElementById("fire-bar");
    if (bar) { bar.max = Math.max(p.total, 1); bar.value = p.done; }
  });
  source.addEventListener("end", function () {
    source.close();
    window.location.reload();
  });
})();
