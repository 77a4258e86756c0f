// stylelab charts: mounts every ECharts option carried as a JSON script element
// (type "application/json", attribute data-stylelab-chart="ID") onto the element ID that precedes it, so that
// pages need no inline script (strict Content-Security-Policy) and notebook cells work while detached.
// This file is inlined into HTML: it must never contain the closing tag of a script element.
(function (w) {
  "use strict";
  if (w.stylelabCharts) {
    w.stylelabCharts.scan(document);
    return;
  }
  var mounted = [];

  function mount(block, tries) {
    if (block.getAttribute("data-mounted")) return;
    var el = block.previousElementSibling;
    if (!el || el.id !== block.getAttribute("data-stylelab-chart")) {
      el = document.getElementById(block.getAttribute("data-stylelab-chart"));
    }
    if (!el) return;
    if (typeof w.echarts === "undefined") {
      el.textContent = "The chart library (echarts.min.js) did not load.";
      return;
    }
    if (!el.isConnected) { // a notebook output not yet attached: wait for it
      if ((tries || 0) < 600) {
        w.setTimeout(function () { mount(block, (tries || 0) + 1); }, 50);
      }
      return;
    }
    block.setAttribute("data-mounted", "1");
    var chart = w.echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(JSON.parse(block.textContent));
    mounted.push(chart);
  }

  function scan(root) {
    var blocks = (root || document).querySelectorAll('script[type="application/json"][data-stylelab-chart]');
    for (var i = 0; i < blocks.length; i++) mount(blocks[i], 0);
    var ctl = (root || document).querySelectorAll(".chart-controls[data-charts]");
    for (var j = 0; j < ctl.length; j++) bind(ctl[j]);
  }

  // Chart controls (charts.Controls): y axis log/linear, smoothing, x by step or wall time. The data as the
  // server sent it ([step, value, seconds]) is kept per chart and every change redraws from it.
  var raw = {};

  // smooth is the debiased exponential moving average of the finite values (nulls stay gaps).
  function smooth(vals, k) {
    if (!(k > 0)) return vals;
    var m = 0, n = 0, out = new Array(vals.length);
    for (var i = 0; i < vals.length; i++) {
      var v = vals[i];
      if (v === null || v === undefined || !isFinite(v)) { out[i] = null; continue; }
      m = k * m + (1 - k) * v; n++;
      out[i] = m / (1 - Math.pow(k, n));
    }
    return out;
  }

  function apply(ids, y, wgt, x) {
    ids.forEach(function (id) {
      var el = document.getElementById(id);
      var chart = el && w.echarts && w.echarts.getInstanceByDom(el);
      if (!chart) return;
      var opt = chart.getOption();
      if (!raw[id]) raw[id] = opt.series.map(function (s) { return (s.data || []).map(function (p) { return p.slice(); }); });
      var series = raw[id].map(function (pts) {
        var vals = smooth(pts.map(function (p) { return (y === "log" && p[1] !== null && p[1] <= 0) ? null : p[1]; }), wgt);
        return {data: pts.map(function (p, i) {
          var xv = x === "time" ? (p.length > 2 ? p[2] : null) : p[0];
          return [xv, vals[i], p[2]];
        }).filter(function (p) { return p[0] !== null; })};
      });
      chart.setOption({yAxis: {type: y}, xAxis: {name: x === "time" ? "wall time (s)" : "step"}, series: series});
    });
  }

  function bind(box) {
    if (box.getAttribute("data-bound")) return;
    box.setAttribute("data-bound", "1");
    var ids = box.getAttribute("data-charts").split(/\s+/).filter(Boolean);
    var ys = box.querySelector('[data-control="y"]'), sm = box.querySelector('[data-control="smooth"]'),
      xs = box.querySelector('[data-control="x"]'), out = box.querySelector("output");
    function change() {
      var wv = sm ? parseFloat(sm.value) : 0;
      if (out) out.textContent = wv.toFixed(2);
      apply(ids, ys ? ys.value : "value", wv, xs ? xs.value : "step");
    }
    [ys, sm, xs].forEach(function (c) { if (c) { c.addEventListener("change", change); c.addEventListener("input", change); } });
  }

  w.addEventListener("resize", function () {
    for (var i = 0; i < mounted.length; i++) mounted[i].resize();
  });
  w.stylelabCharts = { scan: scan, charts: mounted, smooth: smooth };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { scan(document); });
  } else {
    scan(document);
  }
})(window);
