// Draws every chart block on the page with Plotly (served locally from the installed
// plotly package). Data comes from <script type="application/json"> blocks, so no inline
// script runs and the Content-Security-Policy can stay strict.
(function () {
  "use strict";
  function draw(el) {
    var spec = JSON.parse(document.getElementById(el.dataset.spec).textContent);
    if (!window.Plotly) { el.classList.add("no-plotly"); return; }
    var traces = spec.series.map(function (s) {
      return { x: s.x, y: s.y, name: s.name, type: spec.type || "scatter",
               mode: spec.mode || "lines+markers" };
    });
    if (spec.type === "graph") { traces = spec.traces; }
    var layout = { title: { text: spec.title }, margin: { t: 40, r: 20, b: 40, l: 50 },
                   showlegend: true, xaxis: spec.xaxis || {}, yaxis: spec.yaxis || {},
                   annotations: spec.annotations || [] };
    window.Plotly.newPlot(el, traces, layout, { displaylogo: false, responsive: true });
    el.dataset.rendered = "true";
  }
  document.querySelectorAll("[data-spec]").forEach(draw);
})();
