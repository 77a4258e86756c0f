// stylelab training timeline (run page, #timeline): a step slider over the run's sample grids
// (samples/step-N.png) with the style loss of each style at that step, and play/pause. Data: the JSON block
// #timeline-data ({keys, frames: [{step, src, name, losses}]}). No inline script (the page's
// Content-Security-Policy allows only scripts from the server).
(function (w, d) {
  "use strict";
  var block = d.getElementById("timeline-data");
  if (!block) return;
  var data = JSON.parse(block.textContent), frames = data.frames || [], keys = data.keys || [];
  var slider = d.getElementById("timeline-step"), img = d.getElementById("timeline-img"),
    label = d.getElementById("timeline-label"), caption = d.getElementById("timeline-caption"),
    body = d.getElementById("timeline-losses"), play = d.getElementById("timeline-play");
  var st = { index: 0, playing: false, timer: null, frames: frames.length };
  w.stylelabTimeline = st;
  slider.min = 0; slider.max = Math.max(0, frames.length - 1); slider.value = 0;
  frames.forEach(function (f) { var p = new Image(); p.src = f.src; }); // preload: stepping does not flicker

  function show(i) {
    i = Math.max(0, Math.min(frames.length - 1, i));
    st.index = i;
    var f = frames[i];
    slider.value = i;
    img.src = f.src;
    img.alt = f.name;
    label.textContent = "step " + f.step + " (" + (i + 1) + " of " + frames.length + ")";
    caption.textContent = f.name;
    while (body.firstChild) body.removeChild(body.firstChild);
    keys.forEach(function (k) {
      var tr = d.createElement("tr"), a = d.createElement("td"), b = d.createElement("td");
      a.textContent = k === "style" ? "style" : k.replace(/^style\//, "");
      b.textContent = (f.losses && f.losses[k] !== undefined) ? f.losses[k] : "—";
      b.className = "num";
      tr.appendChild(a); tr.appendChild(b); body.appendChild(tr);
    });
  }
  function stop() {
    st.playing = false;
    if (st.timer) w.clearInterval(st.timer);
    st.timer = null;
    play.textContent = "play";
  }
  function start() {
    if (frames.length < 2) return;
    st.playing = true;
    play.textContent = "pause";
    if (st.index >= frames.length - 1) show(0);
    st.timer = w.setInterval(function () {
      if (st.index >= frames.length - 1) { stop(); return; }
      show(st.index + 1);
    }, 600);
  }
  slider.addEventListener("input", function () { stop(); show(parseInt(slider.value, 10)); });
  play.addEventListener("click", function () { if (st.playing) stop(); else start(); });
  show(0);
})(window, document);
