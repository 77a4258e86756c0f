// stylelab sweep view: draws, from the JSON block #sweep-data (dashboard.Sweep), a parallel-coordinates
// chart of the swept params against the metric chosen in #sweep-metric, and a scatter plot of the param in
// #scatter-x against the metric in #scatter-y; both redraw when a selection changes. ECharts options are
// built here (no inline script: the page's Content-Security-Policy allows scripts from the server only).
(function (w, d) {
  "use strict";
  var data = JSON.parse(d.getElementById("sweep-data").textContent);
  var runs = data.runs || [];

  // numeric reports whether every present value of a param is a finite decimal number.
  function numeric(key) {
    var any = false;
    for (var i = 0; i < runs.length; i++) {
      var v = runs[i].params[key];
      if (v === undefined) continue;
      if (v.trim() === "" || !isFinite(Number(v))) return false;
      any = true;
    }
    return any;
  }

  // categories lists a param's distinct values (missing as "(none)"), sorted.
  function categories(key) {
    var seen = {}, out = [];
    for (var i = 0; i < runs.length; i++) {
      var v = runs[i].params[key];
      if (v === undefined) v = "(none)";
      if (!seen[v]) { seen[v] = true; out.push(v); }
    }
    return out.sort();
  }

  function paramValue(run, key, isNum) {
    var v = run.params[key];
    if (v === undefined) return isNum ? null : "(none)";
    return isNum ? Number(v) : v;
  }

  function metricValue(run, key) {
    var v = run.metrics[key];
    return (v === undefined || v === null) ? null : v;
  }

  function range(key) {
    var lo = Infinity, hi = -Infinity;
    for (var i = 0; i < runs.length; i++) {
      var v = metricValue(runs[i], key);
      if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    }
    return lo <= hi ? [lo, hi] : [0, 1];
  }

  function label(run) { return (run.label || "run") + " · " + run.id.slice(0, 8); }

  // parallelOption: one axis per swept param (value axis when numeric, else category), then the metric;
  // one line per run (series data length = number of runs), coloured by the metric.
  function parallelOption(metric) {
    var axes = [], kinds = [];
    data.swept.forEach(function (p, i) {
      var isNum = numeric(p);
      kinds.push(isNum);
      axes.push(isNum ? { dim: i, name: p, type: "value", scale: true }
        : { dim: i, name: p, type: "category", data: categories(p) });
    });
    var m = data.swept.length;
    axes.push({ dim: m, name: metric, type: "value", scale: true, nameTextStyle: { fontWeight: "bold" } });
    var r = range(metric);
    return {
      animation: false,
      tooltip: { trigger: "item", formatter: function (p) { return p.name; } },
      parallelAxis: axes,
      parallel: { left: 60, right: 110, top: 50, bottom: 30 },
      visualMap: { type: "continuous", dimension: m, min: r[0], max: r[1], calculable: true, right: 10, top: 40,
        text: ["high", "low"], inRange: { color: ["#3559c7", "#2e9e5b", "#f2b01e", "#d64545"] } },
      series: [{
        type: "parallel", name: metric, lineStyle: { width: 2, opacity: 0.7 },
        data: runs.map(function (run) {
          var row = data.swept.map(function (p, i) { return paramValue(run, p, kinds[i]); });
          row.push(metricValue(run, metric));
          return { name: label(run), value: row };
        })
      }]
    };
  }

  // scatterOption: the param on x (value axis when numeric, else category), the metric on y; one point per
  // run with a finite value of the metric.
  function scatterOption(param, metric) {
    var isNum = numeric(param);
    var pts = [];
    runs.forEach(function (run) {
      var y = metricValue(run, metric);
      if (y !== null) pts.push({ name: label(run), value: [paramValue(run, param, isNum), y], id: run.id });
    });
    return {
      animation: false,
      tooltip: { trigger: "item", formatter: function (p) { return p.name + "<br>" + param + " = " + p.value[0] + "<br>" + metric + " = " + p.value[1]; } },
      grid: { left: 80, right: 30, top: 30, bottom: 50 },
      xAxis: isNum ? { type: "value", name: param, nameLocation: "middle", nameGap: 30, scale: true }
        : { type: "category", name: param, nameLocation: "middle", nameGap: 30, data: categories(param) },
      yAxis: { type: "value", name: metric, scale: true },
      series: [{ type: "scatter", name: metric, symbolSize: 10, data: pts }]
    };
  }

  var pEl = d.getElementById("sweep-parallel"), sEl = d.getElementById("sweep-scatter");
  if (typeof w.echarts === "undefined") {
    pEl.textContent = sEl.textContent = "The chart library (echarts.min.js) did not load.";
    return;
  }
  var parallel = w.echarts.init(pEl, null, { renderer: "canvas" });
  var scatter = w.echarts.init(sEl, null, { renderer: "canvas" });
  var mSel = d.getElementById("sweep-metric"), xSel = d.getElementById("scatter-x"), ySel = d.getElementById("scatter-y");
  // The scatter starts on the first swept param.
  if (data.swept.length && data.params.indexOf(data.swept[0]) >= 0) xSel.value = data.swept[0];

  function drawParallel() { if (mSel.value) parallel.setOption(parallelOption(mSel.value), true); }
  function drawScatter() { if (xSel.value && ySel.value) scatter.setOption(scatterOption(xSel.value, ySel.value), true); }
  mSel.addEventListener("change", drawParallel);
  xSel.addEventListener("change", drawScatter);
  ySel.addEventListener("change", drawScatter);
  scatter.on("click", function (p) { if (p.data && p.data.id) w.location.href = "/runs/" + encodeURIComponent(p.data.id); });
  w.addEventListener("resize", function () { parallel.resize(); scatter.resize(); });
  drawParallel();
  drawScatter();
  w.stylelabSweep = { parallel: parallel, scatter: scatter, data: data };
})(window, document);
