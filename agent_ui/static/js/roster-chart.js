// The forecast against the roster: agents needed and scheduled per interval, drawn with the
// vendored Chart.js from the JSON the container names (labels in data-* attributes, so no
// inline script). Given fresh data after htmx swaps the roster's calendar (the canvas is outside
// the swapped block, so htmx never copies the chart's inline style).
(function () {
  "use strict";
  var chart = null;

  function draw() {
    var box = document.querySelector("[data-coverage-url]");
    var canvas = document.getElementById("chart-coverage");
    if (!box || !canvas || !window.Chart) return;
    fetch(box.dataset.coverageUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) return;
        if (chart) {
          chart.data.labels = data.labels;
          chart.data.datasets[0].data = data.needed;
          chart.data.datasets[1].data = data.scheduled;
          chart.update("none");
          return;
        }
        chart = new window.Chart(canvas, {
          type: "line",
          data: { labels: data.labels, datasets: [
            { label: box.dataset.labelNeeded, data: data.needed, borderColor: "#b3261e", backgroundColor: "#b3261e",
              stepped: true, pointRadius: 0, spanGaps: false },
            { label: box.dataset.labelScheduled, data: data.scheduled, borderColor: "#0b5cad",
              backgroundColor: "rgba(11, 92, 173, 0.15)", stepped: true, pointRadius: 0, fill: true },
          ] },
          options: { animation: false, responsive: true, maintainAspectRatio: false,
                     plugins: { legend: { position: "bottom" } },
                     scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
        });
        box.dataset.loaded = "true";
      })
      .catch(function () { /* the calendar still shows the roster */ });
  }

  function start() {
    draw();
    document.body.addEventListener("htmx:afterSettle", function (event) {
      if (event.target && event.target.id === "roster-main") draw();
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
