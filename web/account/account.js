// The account pages' script (before pay.js's signals part, and after
// passkey.js on pages with a passkey ceremony). No inline handlers, no
// eval, nothing loaded from elsewhere: it runs under the pages' CSP.
//
// - The field at fault (aria-invalid) or the one the page names
//   (data-focus) takes the focus.
// - A form is sent once: its buttons are disabled on submit.
// - A form with data-passkey="create" or "get" runs a passkey ceremony
//   instead of being sent at once: it posts its own fields (the CSRF
//   token, the payment's client secret) to the URL in data-options, hands
//   the options to kassaPasskey.create or .get, puts the ceremony id and
//   the browser's answer into its hidden fields ceremony_id and response,
//   and then is sent. When the browser or the server refuses, the form's
//   [data-passkey-error] element says why and nothing is sent.
(function () {
  "use strict";
  var first = document.querySelector("[aria-invalid=true], [data-focus]");
  if (first) first.focus();

  function buttons(f, disabled) {
    Array.prototype.forEach.call(f.querySelectorAll("button"), function (b) { b.disabled = disabled; });
  }
  Array.prototype.forEach.call(document.forms, function (f) {
    if (f.hasAttribute("data-passkey")) return;
    f.addEventListener("submit", function () {
      // After this event's default action has taken the submitter's value.
      setTimeout(function () { buttons(f, true); }, 0);
    });
  });
  // Coming back through the history re-enables the buttons.
  window.addEventListener("pageshow", function () {
    Array.prototype.forEach.call(document.forms, function (f) { buttons(f, false); });
  });

  // Copy buttons (data-copy names the element whose text they copy): the
  // recovery codes. Without the clipboard the text is selected for the
  // keyboard's copy, and the status says so.
  Array.prototype.forEach.call(document.querySelectorAll("button[data-copy]"), function (b) {
    var from = document.getElementById(b.getAttribute("data-copy"));
    var status = document.getElementById("copy-status");
    if (!from) return;
    b.hidden = false;
    b.addEventListener("click", function () {
      var text = Array.prototype.map.call(from.children, function (li) { return li.textContent; }).join("\n") || from.textContent;
      function done(ok) {
        if (!ok) {
          var range = document.createRange();
          range.selectNodeContents(from);
          window.getSelection().removeAllRanges();
          window.getSelection().addRange(range);
        }
        if (status) status.textContent = b.getAttribute(ok ? "data-done" : "data-fail");
      }
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(false); });
      } else {
        done(false);
      }
    });
  });

  // The messages, in the page's language: #passkey-texts carries them
  // (the catalogue's pkjs.* texts); English if a page lacks it.
  var t = document.getElementById("passkey-texts");
  function text(name, english) { return (t && t.getAttribute("data-" + name)) || english; }
  var messages = {
    NotAllowedError: text("notallowed", "Your device did not confirm: the prompt was closed or timed out, or this device cannot " +
      "verify you with a fingerprint, face or device PIN. Nothing was sent. Try again."),
    InvalidStateError: text("invalidstate", "This device already has a passkey for your account."),
    AbortError: text("abort", "The passkey prompt was closed. Nothing was sent. Try again."),
    SecurityError: text("security", "Passkeys do not work on this address."),
    NotSupportedError: text("notsupported", "This device cannot make a passkey Kassa accepts.")
  };

  function say(f, name, text) {
    var out = f.querySelector("[data-passkey-error]");
    if (!out) return;
    out.setAttribute("data-error", name);
    out.textContent = text;
    out.hidden = !text;
  }

  Array.prototype.forEach.call(document.querySelectorAll("form[data-passkey]"), function (f) {
    if (!window.kassaPasskey || !kassaPasskey.supported()) {
      say(f, "unsupported", text("unsupported", "This browser cannot use passkeys."));
      buttons(f, true);
      return;
    }
    var busy = false;
    f.addEventListener("submit", function (e) {
      e.preventDefault();
      if (busy) return;
      busy = true;
      buttons(f, true);
      say(f, "", "");
      var ceremony = "";
      fetch(f.getAttribute("data-options"), {
        method: "POST",
        body: new URLSearchParams(new FormData(f)),
        credentials: "same-origin",
        headers: { Accept: "application/json" }
      }).then(function (res) {
        return res.json().then(function (body) {
          if (!res.ok) {
            var err = new Error(body.message || text("server", "The server refused."));
            err.name = "ServerError";
            throw err;
          }
          ceremony = body.ceremony_id;
          return f.getAttribute("data-passkey") === "create"
            ? kassaPasskey.create(body.options)
            : kassaPasskey.get(body.options);
        });
      }).then(function (answer) {
        f.elements.ceremony_id.value = ceremony;
        f.elements.response.value = JSON.stringify(answer);
        HTMLFormElement.prototype.submit.call(f);
      }).catch(function (err) {
        busy = false;
        buttons(f, false);
        var name = (err && err.name) || "Error";
        say(f, name, name === "ServerError" ? err.message :
          (messages[name] || text("other", "Passkeys did not work here. Try again.")));
      });
    });
  });
})();
