// stylelab image comparison (compare page, #imgcmp): any two images of the page — outputs, samples, inputs —
// at full resolution, side by side, with a slider, as a flip, or as their absolute-difference map, with zoom
// (mouse wheel, +/−) and pan (drag) shared by both views. Image B is scaled to A's size when they differ, and
// the page says so. No library and no inline script (the page's Content-Security-Policy allows only scripts
// from the server). Everything is drawn on canvases from the decoded pixels.
(function (w, d) {
  "use strict";
  var root = d.getElementById("imgcmp");
  if (!root) return;
  var selA = d.getElementById("imgcmp-a"), selB = d.getElementById("imgcmp-b"),
    mode = d.getElementById("imgcmp-mode"), split = d.getElementById("imgcmp-split"),
    flipBtn = d.getElementById("imgcmp-flip"), reset = d.getElementById("imgcmp-reset"),
    gain = d.getElementById("imgcmp-gain"), note = d.getElementById("imgcmp-note"),
    zoomOut = d.getElementById("imgcmp-zoom"), cvA = d.getElementById("imgcmp-ca"), cvB = d.getElementById("imgcmp-cb"),
    showing = d.getElementById("imgcmp-showing");

  // state: the pixels of A and B at A's size (canvases), their difference, and the shared view transform
  // (a pixel of the image at (x, y) is drawn at (x·scale + ox, y·scale + oy) on both canvases).
  var st = { a: null, b: null, diff: null, w: 0, h: 0, scale: 1, ox: 0, oy: 0, flipped: false, ready: false,
    stats: null, scaled: false, seq: 0 };
  w.stylelabImgCompare = st;

  // load decodes an image: a URL, or "#ID", the src of the page's img ID (the standalone report inlines each
  // image once, in its cell).
  function load(src) {
    if (src.charAt(0) === "#") {
      var el = d.getElementById(src.slice(1));
      src = el ? el.src : "";
    }
    return new Promise(function (resolve, reject) {
      var im = new Image();
      im.onload = function () { resolve(im); };
      im.onerror = function () { reject(new Error("could not load " + src)); };
      im.src = src;
    });
  }

  function toCanvas(im, width, height) {
    var c = d.createElement("canvas");
    c.width = width; c.height = height;
    var g = c.getContext("2d");
    g.imageSmoothingEnabled = true;
    g.drawImage(im, 0, 0, width, height);
    return c;
  }

  // difference computes |A − B| per channel (alpha opaque) and its mean and maximum over the RGB channels.
  function difference() {
    var pa = st.a.getContext("2d").getImageData(0, 0, st.w, st.h).data,
      pb = st.b.getContext("2d").getImageData(0, 0, st.w, st.h).data;
    var c = d.createElement("canvas");
    c.width = st.w; c.height = st.h;
    var g = c.getContext("2d"), out = g.createImageData(st.w, st.h), o = out.data, sum = 0, mx = 0;
    for (var i = 0; i < pa.length; i += 4) {
      for (var k = 0; k < 3; k++) {
        var v = Math.abs(pa[i + k] - pb[i + k]);
        o[i + k] = v; sum += v; if (v > mx) mx = v;
      }
      o[i + 3] = 255;
    }
    g.putImageData(out, 0, 0);
    st.raw = out;
    st.stats = { mean: sum / (3 * st.w * st.h), max: mx };
    return c;
  }

  // gained is the difference map multiplied by the gain (clamped at 255).
  function gained() {
    var k = gain ? parseFloat(gain.value) || 1 : 1;
    if (k === 1) return st.diff;
    var c = d.createElement("canvas");
    c.width = st.w; c.height = st.h;
    var g = c.getContext("2d"), out = g.createImageData(st.w, st.h), o = out.data, r = st.raw.data;
    for (var i = 0; i < r.length; i += 4) {
      o[i] = Math.min(255, r[i] * k); o[i + 1] = Math.min(255, r[i + 1] * k); o[i + 2] = Math.min(255, r[i + 2] * k); o[i + 3] = 255;
    }
    g.putImageData(out, 0, 0);
    return c;
  }

  function choose() {
    var seq = ++st.seq;
    st.ready = false;
    var la = selA.options[selA.selectedIndex], lb = selB.options[selB.selectedIndex];
    if (!la || !lb) return;
    note.textContent = "Loading…";
    Promise.all([load(la.value), load(lb.value)]).then(function (ims) {
      if (seq !== st.seq) return;
      var A = ims[0], B = ims[1];
      st.w = A.naturalWidth; st.h = A.naturalHeight;
      st.a = toCanvas(A, st.w, st.h);
      st.b = toCanvas(B, st.w, st.h);
      st.scaled = B.naturalWidth !== st.w || B.naturalHeight !== st.h;
      st.diff = difference();
      var msg = "A: " + la.textContent + " (" + st.w + "×" + st.h + ") · B: " + lb.textContent + " (" +
        B.naturalWidth + "×" + B.naturalHeight + ")";
      if (st.scaled) {
        msg += ". The images differ in size: B is scaled to " + st.w + "×" + st.h +
          " (A's size) for the slider, the flip and the difference.";
      }
      if (!st.scaled) msg += ".";
      msg += " Mean absolute difference " + st.stats.mean.toFixed(2) + " of 255, max " + st.stats.max + ".";
      note.textContent = msg;
      fit(false);
      st.ready = true;
      draw();
    }, function (err) {
      if (seq !== st.seq) return;
      note.textContent = err.message;
    });
  }

  // fit sets the view to the image fitted to the view's width (pixels stay sharp), or to full resolution
  // (1:1) with toOne, at the top left.
  function fit(toOne) {
    size();
    st.scale = toOne ? 1 : cvA.width / Math.max(st.w, 1);
    st.ox = 0; st.oy = 0;
  }

  // size makes each view canvas as wide as its share of the section (at most max(image width, 256) px) and
  // as tall as the image at that width (64–800 px).
  function size() {
    var side = mode.value === "side";
    var avail = Math.max(160, root.clientWidth - 8);
    var share = Math.floor(side ? (avail - 12) / 2 : avail);
    var vw = Math.max(64, Math.min(share, Math.max(st.w, 256)));
    cvA.width = vw;
    cvA.height = Math.max(64, Math.min(800, Math.round(vw * st.h / Math.max(st.w, 1))));
    cvB.width = cvA.width; cvB.height = cvA.height;
    cvB.style.display = side ? "" : "none";
  }

  function paint(cv, src, clipX) {
    var g = cv.getContext("2d");
    g.imageSmoothingEnabled = false; // zoomed pixels stay pixels
    if (clipX === undefined) {
      g.fillStyle = "#f0f0f0"; g.fillRect(0, 0, cv.width, cv.height);
    }
    g.save();
    if (clipX !== undefined) {
      g.beginPath(); g.rect(clipX, 0, cv.width - clipX, cv.height); g.clip();
    }
    g.setTransform(st.scale, 0, 0, st.scale, st.ox, st.oy);
    g.drawImage(src, 0, 0);
    g.restore();
  }

  function draw() {
    if (!st.ready) return;
    var m = mode.value;
    split.hidden = m !== "slider";
    flipBtn.hidden = m !== "flip";
    if (gain) gain.parentNode.hidden = m !== "diff";
    zoomOut.textContent = Math.round(st.scale * 100) + "%";
    if (m === "side") {
      paint(cvA, st.a); paint(cvB, st.b);
      showing.textContent = "left A, right B";
    } else if (m === "slider") {
      var x = cvA.width * parseFloat(split.value) / 100;
      paint(cvA, st.a); paint(cvA, st.b, x);
      var gg = cvA.getContext("2d");
      gg.fillStyle = "#fff"; gg.fillRect(Math.round(x) - 1, 0, 2, cvA.height);
      showing.textContent = "A left of the line, B right of it";
    } else if (m === "flip") {
      paint(cvA, st.flipped ? st.b : st.a);
      showing.textContent = st.flipped ? "showing B (press f or the button to flip)" : "showing A (press f or the button to flip)";
    } else {
      paint(cvA, gained());
      showing.textContent = "|A − B| per channel" + (gain && gain.value !== "1" ? " × " + gain.value : "");
    }
  }

  // zoomAt multiplies the scale by f keeping the image point under (cx, cy) in place, on both views.
  function zoomAt(f, cx, cy) {
    var s = Math.min(64, Math.max(0.05, st.scale * f));
    f = s / st.scale;
    st.ox = cx - (cx - st.ox) * f; st.oy = cy - (cy - st.oy) * f;
    st.scale = s;
    draw();
  }
  st.zoomAt = zoomAt;

  [cvA, cvB].forEach(function (cv) {
    cv.addEventListener("wheel", function (e) {
      e.preventDefault();
      var r = cv.getBoundingClientRect();
      zoomAt(e.deltaY < 0 ? 1.25 : 0.8, e.clientX - r.left, e.clientY - r.top);
    }, { passive: false });
    var drag = null;
    cv.addEventListener("pointerdown", function (e) { drag = { x: e.clientX, y: e.clientY }; cv.setPointerCapture(e.pointerId); });
    cv.addEventListener("pointermove", function (e) {
      if (!drag) return;
      st.ox += e.clientX - drag.x; st.oy += e.clientY - drag.y;
      drag = { x: e.clientX, y: e.clientY };
      draw();
    });
    cv.addEventListener("pointerup", function () { drag = null; });
  });
  function flip() { st.flipped = !st.flipped; draw(); }
  flipBtn.addEventListener("click", flip);
  root.addEventListener("keydown", function (e) {
    if (e.key === "f") flip();
    else if (e.key === "+" || e.key === "=") zoomAt(1.25, cvA.width / 2, cvA.height / 2);
    else if (e.key === "-") zoomAt(0.8, cvA.width / 2, cvA.height / 2);
  });
  reset.addEventListener("click", function () { fit(true); draw(); });
  split.addEventListener("input", draw);
  if (gain) gain.addEventListener("change", draw);
  mode.addEventListener("change", function () { var s = st.scale; size(); st.scale = s; draw(); });
  selA.addEventListener("change", choose);
  selB.addEventListener("change", choose);
  choose();
})(window, document);
