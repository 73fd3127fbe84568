// Today's figures on the floor, drawn with the vendored Chart.js from /floor/figures.json
// (no inline script: the labels come from the container's data-* attributes, in the page's
// language). Refreshed every minute; the tables beside them carry the same numbers.
(function () {
  "use strict";
  var charts = {};
  var colours = { brand: "#0b5cad", danger: "#b3261e", success: "#1e6b34", muted: "#4d5562" };

  function upsert(id, config) {
    var canvas = document.getElementById(id);
    if (!canvas) return;
    if (charts[id]) {
      charts[id].data = config.data;
      charts[id].update("none");
      return;
    }
    config.options = Object.assign({
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      plugins: { legend: { position: "bottom" } },
    }, config.options || {});
    charts[id] = new window.Chart(canvas, config);
  }

  function draw(box, data) {
    var label = function (name) { return box.dataset[name] || name; };
    upsert("chart-calls", {
      type: "bar",
      data: { labels: data.hours, datasets: [
        { label: label("labelAnswered"), data: data.answered, backgroundColor: colours.brand },
        { label: label("labelAbandoned"), data: data.abandoned, backgroundColor: colours.danger },
      ] },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
    });
    upsert("chart-service-level", {
      type: "line",
      data: { labels: data.intervals, datasets: [
        { label: label("labelServiceLevel"), data: data.service_level, borderColor: colours.success,
          backgroundColor: colours.success, spanGaps: true },
      ] },
      options: { scales: { y: { min: 0, max: 100 } } },
    });
    upsert("chart-handle", {
      type: "bar",
      data: { labels: data.hours, datasets: [
        { label: label("labelHandle"), data: data.handle_seconds, backgroundColor: colours.muted },
      ] },
      options: { scales: { y: { beginAtZero: true } } },
    });
  }

  function load() {
    var box = document.querySelector("[data-figures-url]");
    if (!box || !window.Chart) return;
    fetch(box.dataset.figuresUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (data) {
          draw(box, data);
          box.dataset.loaded = "true";
        }
      })
      .catch(function () { /* the tables still show the figures */ });
  }

  function start() {
    load();
    window.setInterval(load, 60000);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
