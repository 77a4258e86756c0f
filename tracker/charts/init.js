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
  }

  w.addEventListener("resize", function () {
    for (var i = 0; i < mounted.length; i++) mounted[i].resize();
  });
  w.stylelabCharts = { scan: scan, charts: mounted };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { scan(document); });
  } else {
    scan(document);
  }
})(window);
