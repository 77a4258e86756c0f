#!/usr/bin/env python3
"""Reference values for experiments/study's differential tests, from Debian's python3-scipy and python3-skimage.

    python3 experiments/study/testdata/reference.py > experiments/study/testdata/reference.json

The inputs are drawn from numpy's seeded RandomState, so the file is the same on every run with the same library
versions. The Go tests read the committed reference.json (so they assert without Python) and, when python3 with
scipy and skimage is present (required with STYLELAB_REQUIRE_SCIPY=1), run this script again and compare with its
fresh output too.
"""
import json
import sys

import numpy as np
import scipy
import scipy.stats
import skimage
from skimage.color import rgb2lab
from skimage.metrics import structural_similarity

rng = np.random.RandomState(20261207)
out = {"versions": {"numpy": np.__version__, "scipy": scipy.__version__, "skimage": skimage.__version__}}


def wil(d, mode):
    r = scipy.stats.wilcoxon(d, zero_method="wilcox", correction=False, alternative="two-sided", mode=mode)
    return {"d": [float(v) for v in d], "mode": mode, "statistic": float(r.statistic), "p": float(r.pvalue)}


w = []
for n in [1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 20, 30, 50]:  # no ties, no zeros: exact
    w.append(wil(rng.normal(0.3, 1.0, n), "exact"))
w.append(wil(np.arange(1.0, 11.0), "exact"))  # all positive: p = 2/2^10
w.append(wil(-np.arange(1.0, 9.0), "exact"))
w.append(wil(np.array([1.0, -2.0, 3.0, -4.0, 5.0, -6.0]), "exact"))  # W+ at the centre
# ties, no zeros: the normal approximation with the tie correction
w.append(wil(np.array([1.0, 1.0, -2.0, 3.0, 3.0, 3.0, -1.0, 4.0, 2.0, 5.0, 1.0, 6.0]), "approx"))
w.append(wil(np.round(rng.normal(0.5, 1.0, 25), 1), "approx"))
# zeros (dropped by "wilcox"), with and without ties; scipy's auto mode switches to the approximation
w.append(wil(np.array([0.0, 0.5, -1.5, 2.5, 0.0, 3.5, -4.5, 5.5, 6.5, 0.0, 7.5, 8.5]), "auto"))
w.append(wil(np.round(rng.normal(0.2, 1.0, 30), 1) * (rng.uniform(size=30) > 0.2), "auto"))
w.append(wil(rng.normal(0.1, 1.0, 80), "auto"))  # n > 50: approximation
out["wilcoxon"] = w

out["rankdata"] = []
for x in [[3.0, 1.0, 2.0], [1.0, 1.0, 1.0], [2.0, 1.0, 2.0, 3.0, 1.0, 2.0], list(np.round(rng.normal(size=17), 0))]:
    out["rankdata"].append({"x": [float(v) for v in x], "ranks": [float(v) for v in scipy.stats.rankdata(x)]})

out["percentile"] = []
x = rng.normal(size=37)
for q in [0.0, 0.025, 0.1, 0.5, 0.9, 0.975, 1.0]:
    out["percentile"].append({"x": [float(v) for v in x], "q": q, "value": float(np.percentile(x, 100 * q))})

out["ssim"] = []
for (h, w_) in [(11, 11), (16, 21), (32, 32), (24, 19)]:
    a = np.round(rng.uniform(size=(h, w_)), 3)  # 3 decimals keep the file small
    for kind in ["random", "noisy", "same", "scaled"]:
        if kind == "random":
            b = np.round(rng.uniform(size=(h, w_)), 3)
        elif kind == "noisy":
            b = np.round(np.clip(a + rng.normal(0, 0.1, size=(h, w_)), 0, 1), 3)
        elif kind == "same":
            b = a.copy()
        else:
            b = 0.5 * a + 0.2
        v = structural_similarity(a, b, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
        out["ssim"].append({"w": w_, "h": h, "kind": kind, "x": [float(t) for t in a.ravel()],
                            "y": [float(t) for t in b.ravel()], "ssim": float(v)})

rgb = rng.uniform(size=(1, 40, 3))
rgb[0, :4] = [[0, 0, 0], [1, 1, 1], [0.02, 0.03, 0.04], [1, 0, 0]]  # black, white, the linear segment, red
out["lab"] = {"rgb": [float(t) for t in rgb.ravel()], "lab": [float(t) for t in rgb2lab(rgb).ravel()]}

out["wasserstein1"] = []
for (n, m) in [(5, 5), (7, 3), (13, 29), (100, 41)]:
    a, b = rng.normal(size=n), rng.normal(0.5, 2.0, size=m)
    out["wasserstein1"].append({"a": [float(t) for t in a], "b": [float(t) for t in b],
                                "w1": float(scipy.stats.wasserstein_distance(a, b))})

# Sliced W2 with equal sizes: the textbook form, sorted projections and the mean squared difference.
out["sliced"] = []
for (n, dim, p) in [(20, 3, 8), (64, 5, 16)]:
    x, y = rng.normal(size=(n, dim)), rng.normal(1.0, 0.5, size=(n, dim))
    th = rng.normal(size=(p, dim))
    th /= np.linalg.norm(th, axis=1, keepdims=True)
    sw2 = np.mean([np.mean((np.sort(x @ t) - np.sort(y @ t)) ** 2) for t in th])
    out["sliced"].append({"dim": dim, "x": [float(t) for t in x.ravel()], "y": [float(t) for t in y.ravel()],
                          "dirs": [float(t) for t in th.ravel()], "sw": float(np.sqrt(sw2))})

json.dump(out, sys.stdout, indent=None, separators=(",", ":"))
sys.stdout.write("\n")
