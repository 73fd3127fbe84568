// Tells the person when live updates pause (the websocket dropped and htmx is reconnecting) and
// when they resume; on reconnect the server sends every panel again.
(function () {
  "use strict";
  function status() { return document.getElementById("live-connection"); }
  function start() {
    document.body.addEventListener("htmx:wsClose", function () {
      var el = status();
      if (!el) return;
      el.textContent = el.dataset.msgLost || "";
      el.hidden = false;
    });
    document.body.addEventListener("htmx:wsOpen", function () {
      var el = status();
      if (el) el.hidden = true;
      document.documentElement.dataset.live = "open";
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
