// The console's script: keyboard shortcuts on pages that name them
// (a review case: A approves, R rejects, each after a confirmation), and a
// guard against double submission. Nothing else: the pages work without it.
(function () {
  "use strict";
  document.addEventListener("submit", function (e) {
    var f = e.target;
    if (f.dataset.sent) { e.preventDefault(); return; }
    if (f.dataset.confirm && !window.confirm(f.dataset.confirm)) { e.preventDefault(); return; }
    f.dataset.sent = "1";
  });
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) { return; }
    var t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) { return; }
    var f = document.querySelector("form[data-key='" + e.key.toLowerCase() + "']");
    if (f) { e.preventDefault(); f.requestSubmit(); }
  });
  // The rule editor: check and backtest the rule on the server as it is
  // typed (a moment after the last key), the answer read out politely.
  var form = document.getElementById("rule-form");
  var out = document.getElementById("rule-check");
  if (form && out && window.fetch) {
    var timer = 0, seq = 0;
    form.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var body = new URLSearchParams(new FormData(form));
        var mine = ++seq;
        fetch("/console/rules/check", {method: "POST", body: body, credentials: "same-origin",
          headers: {"Accept": "application/json"}}).then(function (r) { return r.json(); }).then(function (j) {
          if (mine !== seq) { return; }
          out.textContent = j.ok ? j.text : j.error;
          out.className = j.ok ? "muted" : "error";
        }).catch(function () {});
      }, 400);
    });
  }
})();
