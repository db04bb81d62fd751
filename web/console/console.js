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
})();
