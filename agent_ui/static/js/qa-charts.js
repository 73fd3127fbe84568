// QA coverage and trend for team leaders: planned against evaluated per agent, and the monthly
// average against the coaching threshold, drawn with the vendored Chart.js from the JSON the
// container names (labels in data-* attributes, so no inline script). The tables stay for
// readers without JavaScript or a screen.
(function () {
  "use strict";

  function draw(box) {
    if (!window.Chart) return;
    fetch(box.dataset.qaCharts, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) return;
        var options = { animation: false, responsive: true, maintainAspectRatio: false,
                        plugins: { legend: { position: "bottom" } } };
        new window.Chart(document.getElementById("chart-qa-coverage"), {
          type: "bar",
          data: { labels: data.agents, datasets: [
            { label: box.dataset.labelPlanned, data: data.planned, backgroundColor: "rgba(11, 92, 173, 0.35)" },
            { label: box.dataset.labelEvaluated, data: data.evaluated, backgroundColor: "#0b5cad" },
          ] },
          options: Object.assign({ scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }, options),
        });
        new window.Chart(document.getElementById("chart-qa-trend"), {
          type: "line",
          data: { labels: data.months, datasets: [
            { label: box.dataset.labelAverage, data: data.averages, borderColor: "#0b5cad", backgroundColor: "#0b5cad",
              spanGaps: true },
            { label: box.dataset.labelThreshold, data: data.months.map(function () { return data.threshold; }),
              borderColor: "#b3261e", borderDash: [4, 4], pointRadius: 0 },
          ] },
          options: Object.assign({ scales: { y: { min: 0, max: 100 } } }, options),
        });
        box.dataset.loaded = "true";
      })
      .catch(function () { /* the table still shows the figures */ });
  }

  function start() { document.querySelectorAll("[data-qa-charts]").forEach(draw); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
