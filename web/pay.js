// The hosted pages' only script, in two parts.
//
// The first part is the payment page's: it shows the PIN fields one at a
// time, with a button for the next (the page has all ten without
// JavaScript), keeps the voucher form from being sent twice, checks each
// PIN as its 16 digits are complete (POST /pay/{id}/pin: what the voucher
// covers), and sends the form itself so that after an error the PINs stay
// in their masked fields. It does nothing on a page without the voucher
// form.
//
// The second part runs on every hosted page (the payment page, and the
// account pages' login and sign-up, package web/account) and measures how
// the page was used, for Kassa's fraud checks and device recognition. No
// requests, no storage, nothing loaded from elsewhere; the forms work the
// same without it.
//
// On submit, every form with a hidden field client_signals receives one
// JSON object in it (the JSON names of risk.Signals; docs/risk-events.md):
//
//   present            true: this script ran
//   time_on_page_ms    page load (navigation start) to submit
//   time_to_submit_ms  first input, keydown or paste in the submitted form
//                      to submit; 0 when nothing was typed there
//   pointer_moves      mouse and pen pointermove plus touchmove events on
//                      the page (mousemove where there are no pointer
//                      events)
//   key_events         keydown events in the submitted form's fields
//   paste_events       paste events in the submitted form's fields
//   focus_changes      focusin on the submitted form's fields, plus the
//                      times the window lost focus
//   key_interval_cv    coefficient of variation (standard deviation / mean)
//                      of the intervals between keydowns in the form's
//                      fields, 3 decimals, at least 0.001; absent with
//                      fewer than 6 keydowns
//   key_interval_ms    the median of those intervals
//   pointer_interval_cv the same for the intervals between pointer moves
//                      on the page; absent with fewer than 6 moves
//   webdriver          navigator.webdriver === true
//   touch              navigator.maxTouchPoints > 0
//   timezone           Intl.DateTimeFormat().resolvedOptions().timeZone
//   language           navigator.language
//   screen             screen.width + "x" + screen.height
//   platform           navigator.platform
//   fingerprint        FNV-1a 64 (16 hex digits) of the UTF-8 of these
//                      joined by "|": userAgent, languages joined by ",",
//                      platform, hardwareConcurrency, deviceMemory,
//                      screen WxH, colorDepth, timezone, maxTouchPoints
//                      (absent ones as "")
//
// Counts stop at countMax, durations at a day; text is cut to 64 bytes.
//
// A fourth part names the card's network (Visa, Mastercard, American
// Express) under the card number as it is typed.
//
// A third, small part writes every <time class="local"> (the page
// renders it in UTC) in the payer's own time zone and the page's
// language, with the zone's short name.
(function () {
  "use strict";
  var number = document.getElementById("card_number");
  var out = document.getElementById("card-brand");
  if (!number || !out) return;
  function brand(d) {
    if (/^4/.test(d)) return "Visa";
    if (/^(5[1-5]|2(2[2-9]|[3-6][0-9]|7[01]|720))/.test(d)) return "Mastercard";
    if (/^3[47]/.test(d)) return "American Express";
    return "";
  }
  number.addEventListener("input", function () {
    var b = brand(number.value.replace(/[^0-9]/g, ""));
    if (out.textContent !== b) out.textContent = b;
  });
})();
(function () {
  "use strict";
  if (typeof Intl !== "object" || !Intl.DateTimeFormat) return;
  var lang = document.documentElement.lang || "en";
  Array.prototype.forEach.call(document.querySelectorAll("time.local[datetime]"), function (el) {
    var d = new Date(el.getAttribute("datetime"));
    if (isNaN(d.getTime())) return;
    try {
      el.textContent = new Intl.DateTimeFormat(lang, {
        day: "numeric", month: "long", year: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short"
      }).format(d);
    } catch (e) { /* keep the UTC text */ }
  });
})();
(function () {
  "use strict";
  // PIN rows, the double-submit guard, the PIN check and the sending of
  // the voucher form.
  var form = document.getElementById("pay");
  if (!form) return;
  var add = document.getElementById("add-pin");
  var submit = document.getElementById("submit");
  var visible = 1;
  function rows() { return Array.prototype.slice.call(form.querySelectorAll(".pin")); }
  function show() {
    var rs = rows();
    visible = Math.max(1, Math.min(rs.length, parseInt(form.getAttribute("data-visible"), 10) || 1));
    rs.forEach(function (row, i) { row.hidden = i >= visible; });
    add.hidden = visible >= rs.length;
  }
  show();
  function addOne() {
    var rs = rows();
    if (visible >= rs.length) return;
    form.setAttribute("data-visible", String(visible + 1));
    show();
    rs[visible - 1].querySelector("input").focus();
  }
  add.addEventListener("click", addOne);
  // Coming back through the history re-enables the button.
  window.addEventListener("pageshow", function () { submit.disabled = false; });
  // After a refused attempt, the first field at fault takes the focus,
  // on the voucher or the card form (before the signals listen: the page
  // moved it, not the payer).
  function focusFault() {
    var invalid = form.querySelector("[aria-invalid=true]") ||
      document.querySelector("#pay-card [aria-invalid=true]");
    // A declined card: the number of the next card to try.
    if (!invalid && document.getElementById("card-form-error")) invalid = document.getElementById("card_number");
    if (invalid) invalid.focus();
  }
  focusFault();
  function secret() { return form.querySelector("input[name=client_secret]").value; }

  // The PIN check: a PIN's 16 digits complete, the page asks what its
  // voucher covers (POST {action}/pin) and says it under the field. A
  // check spends the guess limits as the form does, so a PIN is checked
  // once, not again until it changes.
  var checked = {};
  // refused holds, by field, a PIN the check found wrong: sent with the
  // form it would be refused again and count a second time against the
  // limits, so the page shows the error without sending it.
  var refused = {};
  function refusedField() {
    var inputs = form.querySelectorAll("input[name=pin]");
    for (var i = 0; i < inputs.length; i++) {
      var r = refused[inputs[i].id];
      if (r && r.digits === inputs[i].value.replace(/[^0-9]/g, "")) return { input: inputs[i], text: r.text };
    }
    return null;
  }
  function showRefused(f) {
    var row = f.input.closest(".pin");
    var id = f.input.id + "-error";
    var p = document.getElementById(id);
    if (!p) {
      p = document.createElement("p");
      p.className = "error";
      p.id = id;
      p.setAttribute("role", "alert");
      f.input.insertAdjacentElement("afterend", p);
    }
    p.textContent = f.text;
    row.classList.add("invalid");
    f.input.setAttribute("aria-invalid", "true");
    f.input.setAttribute("aria-describedby", id + " pin-hint");
    var check = document.getElementById(f.input.id + "-check");
    if (check) check.textContent = "";
    f.input.focus();
  }
  form.addEventListener("input", function (e) {
    var t = e.target;
    if (!t || t.name !== "pin" || !window.fetch) return;
    var out = document.getElementById(t.id + "-check");
    if (!out) return;
    if (t.value !== "") out.classList.add("reserve");
    var digits = t.value.replace(/[^0-9]/g, "");
    if (digits.length !== 16 || /[^0-9 -]/.test(t.value)) {
      out.textContent = "";
      checked[t.id] = "";
      return;
    }
    if (checked[t.id] === digits) return;
    checked[t.id] = digits;
    var res422 = false;
    var body = new URLSearchParams();
    body.set("client_secret", secret());
    body.set("pin", digits);
    var done = fetch(form.action + "/pin", { method: "POST", body: body, credentials: "same-origin", redirect: "error" })
      .then(function (res) { res422 = res.status === 422; return res.json(); })
      .then(function (c) {
        if (checked[t.id] !== digits) return; // typed on meanwhile
        if (c && c.locked) {
          reload(); // the page says until when, and offers the card form
          return;
        }
        out.textContent = c && typeof c.text === "string" ? c.text : "";
        out.className = "hint pin-check reserve" + (c && c.ok ? " ok" : " bad");
        if (c && !c.ok && res422) refused[t.id] = { digits: digits, text: out.textContent };
      })
      .catch(function () { out.textContent = ""; });
    inflight.push(done);
  });
  var inflight = []; // the checks under way: a submit waits for them

  // Sending: the script posts the form itself, so that after an error
  // the PINs stay in their (masked) fields; the server never writes a
  // PIN back into a page. Without fetch the browser posts it.
  var sending = false;
  form.addEventListener("submit", function (e) {
    // A user agent beyond printable ASCII (an override) reaches the server
    // mangled from fetch, not from a form post: the browser posts it then.
    if (!window.fetch || !window.DOMParser || !window.URLSearchParams || /[^\x20-\x7e]/.test(navigator.userAgent)) {
      submit.disabled = true;
      return;
    }
    e.preventDefault();
    if (sending) return;
    sending = true;
    submit.disabled = true;
    // After the other submit listeners (the signals) filled the form in,
    // and the checks under way answered.
    setTimeout(function () {
      var wait = inflight;
      inflight = [];
      Promise.all(wait).then(function () {
        var known = refusedField();
        if (known) {
          showRefused(known);
          sending = false;
          submit.disabled = false;
          return;
        }
        send();
      });
    }, 0);
  });
  function send() {
    var body = new URLSearchParams(new FormData(form));
    var pins = Array.prototype.map.call(form.querySelectorAll("input[name=pin]"), function (i) { return i.value; });
    fetch(form.action, {
      method: "POST", body: body, credentials: "same-origin", redirect: "manual",
      headers: { "Kassa-Page-Fetch": "1" }
    }).then(function (res) {
      var to = res.headers.get("Kassa-Page-Fetch-Location");
      if (to) {
        window.location.assign(to);
        return null;
      }
      if (res.type === "opaqueredirect") {
        reload();
        return null;
      }
      return res.text().then(function (html) { answer(html, pins); });
    }).catch(reload);
  }
  // reload shows where the payment stands.
  function reload() {
    window.location.replace(form.action + "?client_secret=" + encodeURIComponent(secret()));
  }
  // receipt shows the voucher receipt the form was answered with (paid,
  // what is left on each voucher) in place of the page, and beside each
  // voucher the last four digits of the PIN the payer typed for it: the
  // server never writes a PIN, the script still holds them. data-pin is
  // the voucher's place among the PINs sent (the non-empty fields).
  function receipt(doc, pins) {
    var sent = pins.map(function (p) { return p.trim(); }).filter(function (p) { return p !== ""; });
    var main = document.importNode(doc.querySelector("main"), true);
    Array.prototype.forEach.call(main.querySelectorAll("[data-pin]"), function (li) {
      var digits = (sent[Number(li.getAttribute("data-pin"))] || "").replace(/[^0-9]/g, "");
      var tail = li.querySelector(".pin-tail");
      if (tail && digits.length > 4) tail.textContent = tail.getAttribute("data-text").replace("%s", digits.slice(-4));
    });
    pins.length = 0;
    sent.length = 0;
    document.title = doc.title;
    document.querySelector("main").replaceWith(main);
    var h1 = main.querySelector("h1");
    if (h1) {
      h1.setAttribute("tabindex", "-1");
      h1.focus();
    }
  }
  // answer shows the page the form was answered with: the form again,
  // with its errors and the PINs the payer typed; any other page (a
  // status, a step-up) by loading it.
  function answer(html, pins) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    if (doc.getElementById("vouchers-left")) {
      receipt(doc, pins);
      return;
    }
    var next = doc.getElementById("pay");
    if (!next) {
      reload();
      return;
    }
    form.setAttribute("data-visible", next.getAttribute("data-visible") || "1");
    form.replaceChildren.apply(form, Array.prototype.map.call(next.childNodes, function (n) { return document.importNode(n, true); }));
    add = document.getElementById("add-pin");
    submit = document.getElementById("submit");
    add.addEventListener("click", addOne);
    Array.prototype.forEach.call(form.querySelectorAll("input[name=pin]"), function (input, i) {
      if (i < pins.length) input.value = pins[i];
    });
    checked = {};
    refused = {};
    show();
    sending = false;
    focusFault();
  }
})();

(function () {
  "use strict";
  var countMax = 10000;
  var durationMaxMS = 24 * 60 * 60 * 1000;
  var textBytesMax = 64;

  // Signals: page-wide counts, and per form what happened in its fields.
  var forms = Array.prototype.filter.call(document.forms, function (f) {
    return f.querySelector("input[name=client_signals]") !== null;
  });
  if (forms.length === 0) return;
  var pointerMoves = 0;
  var windowBlurs = 0;
  var inForm = forms.map(function () { return { first: -1, keys: 0, pastes: 0, focus: 0, keyGaps: gaps() }; });
  var pointerGaps = gaps();
  // gaps measures the intervals between events: their running mean and
  // variance (Welford), and the first intervalsKept of them for a median.
  // A person's intervals vary (bursts and pauses); a timer's do not.
  var intervalsKept = 256, intervalsMin = 5;
  function gaps() { return { last: -1, n: 0, mean: 0, m2: 0, kept: [] }; }
  function tick(g) {
    var t = now();
    if (g.last >= 0) {
      var x = t - g.last, d = x - g.mean;
      g.n++;
      g.mean += d / g.n;
      g.m2 += d * (x - g.mean);
      if (g.kept.length < intervalsKept) g.kept.push(x);
    }
    g.last = t;
  }
  // cv is undefined (left out of the JSON) below intervalsMin intervals.
  function cv(g) {
    if (g.n < intervalsMin || g.mean <= 0) return undefined;
    var c = Math.sqrt(g.m2 / (g.n - 1)) / g.mean;
    return Math.min(Math.max(Math.round(c * 1000) / 1000, 0.001), 100);
  }
  function median(g) {
    if (g.n < intervalsMin) return undefined;
    var k = g.kept.slice().sort(function (a, b) { return a - b; });
    return ms(k[k.length >> 1]);
  }

  function now() {
    return window.performance && performance.now ? performance.now() : 0;
  }
  function bump(n) { return Math.min(n + 1, countMax); }
  // fieldOf is what happened in the form of an event's target, when the
  // target is one of the forms' visible fields.
  function fieldOf(e) {
    var t = e.target;
    if (!t || !t.form || t.type === "hidden" || !/^(INPUT|SELECT|TEXTAREA)$/.test(t.tagName)) return null;
    var i = forms.indexOf(t.form);
    return i < 0 ? null : inForm[i];
  }
  function typed(e) {
    var st = fieldOf(e);
    if (st && st.first < 0) st.first = now();
    return st;
  }
  document.addEventListener("input", typed, true);
  document.addEventListener("keydown", function (e) {
    var st = typed(e);
    if (st) {
      st.keys = bump(st.keys);
      tick(st.keyGaps);
    }
  }, true);
  document.addEventListener("paste", function (e) {
    var st = typed(e);
    if (st) st.pastes = bump(st.pastes);
  }, true);
  document.addEventListener("focusin", function (e) {
    var st = fieldOf(e);
    if (st) st.focus = bump(st.focus);
  }, true);
  window.addEventListener("blur", function (e) {
    if (e.target === window) windowBlurs = bump(windowBlurs);
  });
  // One count per movement: a mouse also fires mousemove, a finger also
  // pointermove (until the browser takes it for scrolling), so touch is
  // counted by touchmove alone.
  function moved() {
    pointerMoves = bump(pointerMoves);
    tick(pointerGaps);
  }
  if (window.PointerEvent) {
    document.addEventListener("pointermove", function (e) {
      if (e.pointerType !== "touch") moved();
    }, { capture: true, passive: true });
  } else {
    document.addEventListener("mousemove", moved, { capture: true, passive: true });
  }
  document.addEventListener("touchmove", moved, { capture: true, passive: true });

  function utf8(s) {
    var out = [];
    for (var i = 0; i < s.length; i++) {
      var c = s.charCodeAt(i);
      if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
        var d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d < 0xe000) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
        }
      }
      if (c >= 0xd800 && c < 0xe000) c = 0xfffd; // a lone surrogate
      if (c < 0x80) out.push(c);
      else if (c < 0x800) out.push(0xc0 | c >> 6, 0x80 | c & 63);
      else if (c < 0x10000) out.push(0xe0 | c >> 12, 0x80 | c >> 6 & 63, 0x80 | c & 63);
      else out.push(0xf0 | c >> 18, 0x80 | c >> 12 & 63, 0x80 | c >> 6 & 63, 0x80 | c & 63);
    }
    return out;
  }
  // fnv1a64 hashes bytes with 64-bit FNV-1a in four 16-bit limbs (no
  // BigInt, so older browsers run it), as 16 hex digits.
  function fnv1a64(bytes) {
    var h0 = 0x2325, h1 = 0x8422, h2 = 0x9ce4, h3 = 0xcbf2; // 0xcbf29ce484222325
    for (var i = 0; i < bytes.length; i++) {
      h0 ^= bytes[i];
      // h *= 0x100000001b3 (mod 2^64): h*0x1b3 + h<<40.
      var r0 = h0 * 0x1b3;
      var r1 = h1 * 0x1b3 + (r0 >>> 16);
      var r2 = h2 * 0x1b3 + h0 * 0x100 + (r1 >>> 16);
      var r3 = h3 * 0x1b3 + h1 * 0x100 + (r2 >>> 16);
      h0 = r0 & 0xffff; h1 = r1 & 0xffff; h2 = r2 & 0xffff; h3 = r3 & 0xffff;
    }
    return [h3, h2, h1, h0].map(function (x) { return (0x10000 + x).toString(16).slice(1); }).join("");
  }
  // text cuts s to textBytesMax bytes of UTF-8, at a character boundary.
  function text(s) {
    s = s == null ? "" : String(s);
    while (utf8(s).length > textBytesMax) s = s.slice(0, -1);
    return s;
  }
  function timezone() {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (e) {
      return "";
    }
  }
  function str(v) { return v == null ? "" : String(v); }
  function ms(x) { return Math.max(0, Math.min(Math.round(x), durationMaxMS)); }

  function signals(i) {
    var nav = navigator, scr = window.screen || {};
    var t = now(), st = inForm[i], tz = timezone();
    var size = str(scr.width) + "x" + str(scr.height);
    var stable = [nav.userAgent, (nav.languages || []).join(","), nav.platform, nav.hardwareConcurrency,
      nav.deviceMemory, size, scr.colorDepth, tz, nav.maxTouchPoints].map(str).join("|");
    return {
      present: true,
      time_on_page_ms: ms(t),
      time_to_submit_ms: st.first < 0 ? 0 : ms(t - st.first),
      pointer_moves: pointerMoves,
      key_events: st.keys,
      paste_events: st.pastes,
      focus_changes: Math.min(st.focus + windowBlurs, countMax),
      key_interval_cv: cv(st.keyGaps),
      key_interval_ms: median(st.keyGaps),
      pointer_interval_cv: cv(pointerGaps),
      webdriver: nav.webdriver === true,
      touch: (nav.maxTouchPoints || 0) > 0,
      timezone: text(tz),
      language: text(nav.language),
      screen: text(size),
      platform: text(nav.platform),
      fingerprint: fnv1a64(utf8(stable))
    };
  }
  forms.forEach(function (f, i) {
    f.addEventListener("submit", function () {
      var field = f.querySelector("input[name=client_signals]");
      if (!field) return;
      try {
        field.value = JSON.stringify(signals(i));
      } catch (e) {
        field.value = ""; // the payment goes on without signals
      }
    });
  });

})();
