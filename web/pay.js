// Shows the PIN fields one at a time, with a button for the next (the
// page has all ten without JavaScript), and keeps the form from being
// sent twice. Nothing else: no requests, no storage.
(function () {
  "use strict";
  var form = document.getElementById("pay");
  if (!form) return;
  var rows = Array.prototype.slice.call(form.querySelectorAll(".pin"));
  var add = document.getElementById("add-pin");
  var submit = document.getElementById("submit");
  var visible = Math.max(1, Math.min(rows.length, parseInt(form.getAttribute("data-visible"), 10) || 1));
  function show() {
    rows.forEach(function (row, i) { row.hidden = i >= visible; });
    add.hidden = visible >= rows.length;
  }
  show();
  add.addEventListener("click", function () {
    if (visible >= rows.length) return;
    visible++;
    show();
    rows[visible - 1].querySelector("input").focus();
  });
  form.addEventListener("submit", function () { submit.disabled = true; });
  // Coming back through the history re-enables the button.
  window.addEventListener("pageshow", function () { submit.disabled = false; });
  // After a refused attempt, the field at fault takes the focus.
  var invalid = form.querySelector("[aria-invalid=true]");
  if (invalid) invalid.focus();
})();
