// The main navigation's groups are <details> menus that open and close without this script. It
// gives them the manners people expect of a menu: opening one closes the others, and Escape, a
// click elsewhere or focus moving on closes an open one (Escape gives the focus back to the
// group's summary). A list that would run past the window's right edge opens leftwards instead.
// Listeners sit on the document, so a page swapped in by htmx needs nothing more.
(function () {
  "use strict";
  var GROUP = ".mainnav .navgroup > details";

  function close(details, refocus) {
    if (!details.open) return;
    details.open = false;
    if (refocus) details.querySelector("summary").focus();
  }

  function eachOpen(callback) {
    document.querySelectorAll(GROUP).forEach(function (details) {
      if (details.open) callback(details);
    });
  }

  function fit(details) {
    var list = details.querySelector("ul");
    details.classList.remove("end");
    if (list && list.getBoundingClientRect().right > document.documentElement.clientWidth) {
      details.classList.add("end");
    }
  }

  // "toggle" does not bubble: listen while it passes down.
  document.addEventListener("toggle", function (event) {
    var details = event.target;
    if (!(details instanceof HTMLDetailsElement) || !details.matches(GROUP) || !details.open) return;
    eachOpen(function (other) { if (other !== details) close(other, false); });
    fit(details);
  }, true);

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    eachOpen(function (details) { close(details, details.contains(document.activeElement)); });
  });

  document.addEventListener("click", function (event) {
    eachOpen(function (details) { if (!details.contains(event.target)) close(details, false); });
  });

  document.addEventListener("focusout", function (event) {
    var details = event.target instanceof Element ? event.target.closest(GROUP) : null;
    var next = event.relatedTarget;
    if (details && details.open && next instanceof Node && !details.contains(next)) close(details, false);
  });
})();
