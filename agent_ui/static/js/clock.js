// The live pages' ticking clocks: time in state (data-since) and countdowns (data-countdown-to),
// both on the server's clock. The offset between the server's time (<meta name="server-time">,
// then the data-server-now of each fragment that arrives) and this computer's is kept, so a
// wrong clock on the PC shows the same countdown as the server enforces. A countdown reaching
// zero marks itself expired, switches its scope's state text, and disables the controls tied
// to it (data-countdown-for), without waiting for the server: the server refuses them anyway.
(function () {
  "use strict";
  var offset = 0; // server time minus local time, in ms

  function sync(iso) {
    var at = Date.parse(iso || "");
    if (!isNaN(at)) offset = at - Date.now();
  }

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function clockText(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return (h ? h + ":" + pad(m) : String(m)) + ":" + pad(r);
  }

  function expire(el) {
    el.dataset.expired = "true";
    el.textContent = el.dataset.expiredLabel || "0:00";
    if (el.id) {
      document.querySelectorAll('[data-countdown-for="' + el.id + '"]').forEach(function (control) {
        control.disabled = true;
        control.setAttribute("aria-disabled", "true");
      });
    }
    var scope = el.closest("[data-countdown-scope]");
    if (scope) {
      scope.classList.add("expired");
      scope.querySelectorAll("[data-expired-text]").forEach(function (label) {
        label.textContent = label.dataset.expiredText;
      });
      // "expires in …" has nothing left to say once the state reads "Expired".
      scope.querySelectorAll("[data-hidden-on-expiry]").forEach(function (part) {
        part.hidden = true;
      });
      scope.querySelectorAll("[data-shown-on-expiry]").forEach(function (part) {
        part.hidden = false;
      });
    }
    el.dispatchEvent(new CustomEvent("hotline:expired", { bubbles: true }));
  }

  function tick() {
    var now = Date.now() + offset;
    document.querySelectorAll("[data-since]").forEach(function (el) {
      var since = Date.parse(el.dataset.since);
      if (!isNaN(since)) el.textContent = clockText(now - since);
    });
    document.querySelectorAll("[data-countdown-to]").forEach(function (el) {
      var until = Date.parse(el.dataset.countdownTo);
      if (isNaN(until) || el.dataset.expired === "true") return;
      if (until > now) {
        el.textContent = clockText(until - now + 999); // whole seconds left, rounded up
      } else {
        expire(el);
      }
    });
  }

  function start() {
    var meta = document.querySelector('meta[name="server-time"]');
    if (meta) sync(meta.content);
    tick();
    // A quarter second: a button tied to a countdown disables within 250 ms of the expiry.
    window.setInterval(tick, 250);
    document.body.addEventListener("htmx:oobAfterSwap", function (ev) {
      var el = ev.detail && ev.detail.target;
      var fresh = el && el.id ? document.getElementById(el.id) : null;
      if (fresh && fresh.dataset.serverNow) sync(fresh.dataset.serverNow);
      tick();
    });
    document.body.addEventListener("htmx:afterSettle", tick);
  }

  window.HotlineClock = { sync: sync, tick: tick, serverNow: function () { return Date.now() + offset; } };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
