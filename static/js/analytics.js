// Draws the analytics dashboard's charts (Chart.js, served from node_modules by Django) from the
// data the page embeds, and shows the custom range's date fields when "Custom…" is picked.
(function () {
  "use strict";
  var form = document.getElementById("filters");
  var range = document.getElementById("range");
  function syncRange() { if (form && range) form.classList.toggle("custom", range.value === "custom"); }
  if (range) { range.addEventListener("change", syncRange); syncRange(); }

  var node = document.getElementById("chart-data");
  if (!node || typeof Chart === "undefined") return;
  var data = JSON.parse(node.textContent);
  var palette = ["#2b59c3", "#e07a1f", "#1b998b", "#c2185b", "#7b5ea7", "#6c8e00", "#d64545", "#3c8dbc",
                 "#8d6e63", "#455a64"];
  var labels = data.labels.map(function (iso) {
    var d = new Date(iso);
    var opts = data.unit === "hour" ? { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZone: "UTC", hour12: false }
                                    : { month: "short", day: "numeric", timeZone: "UTC" };
    return d.toLocaleString("en-US", opts);
  });
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = "#5c677d";
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.plugins.legend.labels.boxWidth = 12;

  function usd(nusd) { return nusd / 1e9; }
  function money(v) {
    if (v === 0) return "$0";
    if (v >= 0.1) return "$" + v.toFixed(2);  // $0.80 beside $1.00, not $0.8
    return "$" + parseFloat(v.toPrecision(3)).toString();  // $0.0016, not $0.00160
  }

  var names = Object.keys(data.spend);
  new Chart(document.getElementById("spend-chart"), {
    type: "bar",
    data: { labels: labels, datasets: names.map(function (name, i) {
      return { label: name, data: data.spend[name].map(usd), backgroundColor: palette[i % palette.length], stack: "spend" };
    }) },
    options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { callback: money } } },
               plugins: { tooltip: { callbacks: { label: function (c) { return c.dataset.label + ": " + money(c.parsed.y); } } } } }
  });
  new Chart(document.getElementById("volume-chart"), {
    data: { labels: labels, datasets: [
      { type: "bar", label: "Requests", data: data.requests, backgroundColor: "#9db4e8", yAxisID: "y" },
      { type: "line", label: "Prompt tokens", data: data.prompt_tokens, borderColor: "#e07a1f", backgroundColor: "#e07a1f", yAxisID: "tokens", pointRadius: 2 },
      { type: "line", label: "Completion tokens", data: data.completion_tokens, borderColor: "#1b998b", backgroundColor: "#1b998b", yAxisID: "tokens", pointRadius: 2 }
    ] },
    options: { scales: { y: { beginAtZero: true, title: { display: true, text: "requests" } },
                         tokens: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false }, title: { display: true, text: "tokens" } } } }
  });
  function line(label, values, color, dash) {
    return { label: label, data: values, borderColor: color, backgroundColor: color, borderDash: dash || [], spanGaps: true, pointRadius: 3 };
  }
  new Chart(document.getElementById("latency-chart"), {
    type: "line",
    data: { labels: labels, datasets: [
      line("Latency p50", data.latency_p50_ms, "#2b59c3"), line("Latency p95", data.latency_p95_ms, "#2b59c3", [6, 4]),
      line("First token p50", data.ttft_p50_ms, "#e07a1f"), line("First token p95", data.ttft_p95_ms, "#e07a1f", [6, 4])
    ] },
    options: { scales: { y: { beginAtZero: true, ticks: { callback: function (v) { return v + " ms"; } } } } }
  });
  new Chart(document.getElementById("rates-chart"), {
    type: "line",
    data: { labels: labels, datasets: [line("Errors", data.error_rate, "#d64545"), line("Fallbacks", data.fallback_rate, "#7b5ea7")] },
    options: { scales: { y: { beginAtZero: true, suggestedMax: 5, ticks: { callback: function (v) { return v + "%"; } } } } }
  });
})();
