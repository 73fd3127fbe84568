// The reports' call figures, drawn with the vendored Chart.js from the JSON the container names
// (/reports/calls.json with the chosen period): calls per day or week, service level and
// abandonment, handle time and speed of answer, calls per team. No inline script: the labels
// come from the container's data-* attributes, in the page's language. The tables beside the
// charts carry the same numbers for readers without JavaScript or a screen. Redrawn when htmx
// swaps in another period.
(function () {
  "use strict";
  var colours = { brand: "#0b5cad", danger: "#b3261e", success: "#1e6b34", muted: "#4d5562", light: "#8fb3da" };
  var drawn = [];

  function options(extra) {
    return Object.assign({ animation: false, responsive: true, maintainAspectRatio: false,
                           plugins: { legend: { position: "bottom" } } }, extra || {});
  }

  function chart(id, config) {
    var canvas = document.getElementById(id);
    if (!canvas) return;
    drawn.push(new window.Chart(canvas, config));
  }

  function draw(box, data) {
    var label = function (name) { return box.dataset[name] || name; };
    chart("chart-report-calls", {
      type: "bar",
      data: { labels: data.labels, datasets: [
        { label: label("labelAnswered"), data: data.answered, backgroundColor: colours.brand },
        { label: label("labelAbandoned"), data: data.abandoned, backgroundColor: colours.danger },
        { label: label("labelLeft"), data: data.left_message, backgroundColor: colours.light },
      ] },
      options: options({ scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } }),
    });
    chart("chart-report-service", {
      type: "line",
      data: { labels: data.labels, datasets: [
        { label: label("labelServiceLevel"), data: data.service_level, borderColor: colours.success,
          backgroundColor: colours.success, spanGaps: true },
        { label: label("labelAbandonment"), data: data.abandonment, borderColor: colours.danger,
          backgroundColor: colours.danger, borderDash: [4, 4], spanGaps: true },
      ] },
      options: options({ scales: { y: { min: 0, max: 100 } } }),
    });
    chart("chart-report-handle", {
      type: "bar",
      data: { labels: data.labels, datasets: [
        { label: label("labelHandle"), data: data.handle_seconds, backgroundColor: colours.muted },
        { label: label("labelAnswer"), data: data.answer_seconds, backgroundColor: colours.light },
      ] },
      options: options({ scales: { y: { beginAtZero: true } } }),
    });
    chart("chart-report-teams", {
      type: "bar",
      data: { labels: data.teams, datasets: [
        { label: label("labelTeamAnswered"), data: data.team_answered, backgroundColor: colours.brand },
      ] },
      options: options({ indexAxis: "y", scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } }),
    });
    box.dataset.loaded = "true";
  }

  function load() {
    var box = document.querySelector("[data-reports-charts]");
    if (!box || !window.Chart || box.dataset.loaded) return;
    fetch(box.dataset.reportsCharts, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) { if (data) draw(box, data); })
      .catch(function () { /* the tables still show the figures */ });
  }

  // Before htmx swaps the section, let go of the old charts and the sizes Chart.js put on their
  // canvases: htmx would otherwise copy that style attribute onto the new canvases of the same
  // id, which the Content-Security-Policy (style-src 'self') refuses.
  function release() {
    drawn.forEach(function (c) { c.destroy(); });
    drawn = [];
    document.querySelectorAll("[data-reports-charts] canvas").forEach(function (canvas) {
      canvas.removeAttribute("style");
    });
    // htmx keeps the page for the back button from here on: a restored page draws again.
    document.querySelectorAll("[data-reports-charts]").forEach(function (box) { delete box.dataset.loaded; });
  }

  function start() {
    load();
    document.body.addEventListener("htmx:beforeSwap", release);
    // Another period swapped in by htmx brings a new container: draw it.
    document.body.addEventListener("htmx:afterSettle", load);
    document.body.addEventListener("htmx:historyRestore", load);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
