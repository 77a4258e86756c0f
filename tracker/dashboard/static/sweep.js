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

  // positive reports whether every present value of a numeric param (or of a metric) is > 0: a log axis
  // can show it.
  function positive(key, isMetric) {
    var any = false;
    for (var i = 0; i < runs.length; i++) {
      var v = isMetric ? metricValue(runs[i], key) : paramValue(runs[i], key, true);
      if (v === null) continue;
      if (!(v > 0)) return false;
      any = true;
    }
    return any;
  }

  // The axes shown and the log axes, remembered in the URL (?axes=p1,p2&log=p1,metric&metric=m) so that a
  // link reopens the same view. Unknown names in the URL are ignored; no axes= means every swept param.
  var params0 = new URLSearchParams(w.location.search);
  var chosen = params0.has("axes") ? params0.get("axes").split(",").filter(function (p) { return data.swept.indexOf(p) >= 0; }) : data.swept.slice();
  var logs = {};
  (params0.get("log") || "").split(",").forEach(function (p) { if (p) logs[p] = true; });

  function remember(metric) {
    var q = new URLSearchParams(w.location.search);
    q.set("axes", chosen.join(","));
    var l = Object.keys(logs).filter(function (k) { return logs[k]; });
    if (l.length) q.set("log", l.join(",")); else q.delete("log");
    if (metric) q.set("metric", metric);
    w.history.replaceState(null, "", w.location.pathname + "?" + q.toString());
  }

  // parallelOption: one axis per chosen swept param (value axis when numeric — logarithmic when chosen and
  // every value is > 0 —, else category), then the metric; one line per run, coloured by the metric.
  function parallelOption(metric) {
    var axes = [], kinds = [], shown = data.swept.filter(function (p) { return chosen.indexOf(p) >= 0; });
    shown.forEach(function (p, i) {
      var isNum = numeric(p);
      kinds.push(isNum);
      axes.push(isNum ? { dim: i, name: p, type: (logs[p] && positive(p, false)) ? "log" : "value", scale: true }
        : { dim: i, name: p, type: "category", data: categories(p) });
    });
    var m = shown.length;
    axes.push({ dim: m, name: metric, type: (logs[metric] && positive(metric, true)) ? "log" : "value", scale: true, nameTextStyle: { fontWeight: "bold" } });
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
          var row = shown.map(function (p, i) { return paramValue(run, p, kinds[i]); });
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

  // axisControls fills #sweep-axes: per swept param a "show" checkbox and, when numeric, a "log" one (disabled
  // with a reason when a value is ≤ 0), and a "log" checkbox for the metric.
  var axesBox = d.getElementById("sweep-axes");
  function checkbox(labelText, on, disabled, why, onChange, attr) {
    var l = d.createElement("label"), c = d.createElement("input");
    c.type = "checkbox"; c.checked = on; c.disabled = disabled;
    if (attr) c.setAttribute("data-axis", attr);
    if (why) l.title = why;
    c.addEventListener("change", function () { onChange(c.checked); });
    l.appendChild(c); l.appendChild(d.createTextNode(" " + labelText));
    return l;
  }
  function axisControls() {
    if (!axesBox) return;
    while (axesBox.firstChild) axesBox.removeChild(axesBox.firstChild);
    data.swept.forEach(function (p) {
      var span = d.createElement("span");
      span.className = "axis";
      span.appendChild(checkbox(p, chosen.indexOf(p) >= 0, false, "", function (on) {
        chosen = data.swept.filter(function (q) { return q === p ? on : chosen.indexOf(q) >= 0; });
        drawParallel();
      }, "show:" + p));
      if (numeric(p)) {
        var ok = positive(p, false);
        span.appendChild(checkbox("log", !!logs[p] && ok, !ok, ok ? "" : "a value is ≤ 0: no log axis", function (on) { logs[p] = on; drawParallel(); }, "log:" + p));
      }
      axesBox.appendChild(span);
    });
    var mt = mSel.value, okm = positive(mt, true), span = d.createElement("span");
    span.className = "axis";
    span.appendChild(d.createTextNode(mt + " "));
    span.appendChild(checkbox("log", !!logs[mt] && okm, !okm, okm ? "" : "a value is ≤ 0: no log axis", function (on) { logs[mt] = on; drawParallel(); }, "log:" + mt));
    axesBox.appendChild(span);
  }
  if (params0.get("metric") && Array.prototype.some.call(mSel.options, function (o) { return o.value === params0.get("metric"); })) mSel.value = params0.get("metric");
  function drawParallel() { if (mSel.value) { parallel.setOption(parallelOption(mSel.value), true); remember(mSel.value); } }
  mSel.addEventListener("change", axisControls);
  function drawScatter() { if (xSel.value && ySel.value) scatter.setOption(scatterOption(xSel.value, ySel.value), true); }
  mSel.addEventListener("change", drawParallel);
  xSel.addEventListener("change", drawScatter);
  ySel.addEventListener("change", drawScatter);
  scatter.on("click", function (p) { if (p.data && p.data.id) w.location.href = "/runs/" + encodeURIComponent(p.data.id); });
  w.addEventListener("resize", function () { parallel.resize(); scatter.resize(); });
  axisControls();
  drawParallel();
  drawScatter();
  w.stylelabSweep = { parallel: parallel, scatter: scatter, data: data };
})(window, document);
