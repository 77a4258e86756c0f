#!/usr/bin/python3
"""PyTorch peer of `stylelab bench`: the same network, losses and steps, timed the same way.

Usage (Debian's python3-torch; run with /usr/bin/python3, not a pyenv/venv python without torch):

    peer.py [--json] [--sizes 64,128,256] [--steps N] [--warmup N] [--work LIST] [--rows WORK:SIZE,...]
            [--stylelab BIN]              # run stylelab's rows too, interleaved with the peer's; print a comparison
            [--stylelab-json FILE]        # or: stylelab's rows measured before (bench --json)
    peer.py --check DIR                   # DIR from `stylelab bench --export-check DIR`: compare the losses

What is the same as stylelab (experiments/vgg, experiments/losses, experiments/gatys defaults):
  * VGG-19 up to relu5_1 (the deepest layer used): 3x3 convs, padding 1, ReLU, 2x2 average pooling
    (floor mode); input normalised with torchvision's mean/std; weights He-normal random (values differ from
    stylelab's seeded ones, shapes are the same; --check loads stylelab's exact weights).
  * content loss: mean((F - P)^2) at relu4_2; style: Gram loss sum((F F^T/M_F - S S^T/M_S)^2) / (4 N^2) at
    relu1_1, relu2_1, relu3_1, relu4_1, relu5_1, mean over layers; TV: (sum of squared vertical and horizontal
    neighbour differences) / (B*H*W); total = 1*content + 5*style + 0.05*TV. Style Gram targets and content
    features computed once per run.
  * Adam: lr 0.01, betas (0.9, 0.999), eps 1e-7 (GoMLX's default), pixels clamped to [0,1] after every update.
  * Inputs: the synthetic images of bench.Images (same formula), content init.
  * inference-paper: transformer.Paper(2) (experiments/transformer) on the content image, style 0, no grad.
  * train-step-paper: one Adam step of the gpu preset's CIN training (experiments/train): the paper network,
    batch 4, 2 synthetic styles, VGG to relu4_1 (style relu1_1..relu4_1, content relu3_1), Gram loss, TV.
What differs:
  * L-BFGS: torch.optim.LBFGS(lr=1, max_iter=1, history_size=10, line_search_fn="strong_wolfe"), one
    .step() per iteration, then a clamp to [0,1]. stylelab's L-BFGS is projected inside its weak-Wolfe line
    search and reuses the last evaluation; torch's .step() re-evaluates the loss at its start, so torch's
    evaluations per step are one more. Compare seconds per evaluation as well as per step.
  * Convolutions go through oneDNN (MKL-DNN) in PyTorch's CPU build; stylelab's cpu backend runs them as one
    op (im2col in bounded blocks + matmul).
  * train-step-paper: the style targets' Gram matrices are computed once; stylelab gathers each example's target
    features and computes their Gram every step.

Each row runs in a child process (this script with --row WORK:SIZE), so peak RSS (ru_maxrss of that child, read
with os.wait4) is the row's alone. With --stylelab BIN, stylelab's row (`BIN bench --row`) runs right before the
peer's same row, so both see the same load on a shared machine. PyTorch runs with OpenBLAS's core type as stylelab
chose it (its rows' core_type; else $OPENBLAS_CORETYPE; else OpenBLAS's detection), LD_LIBRARY_PATH set to the
pthread OpenBLAS, torch.set_num_threads(nproc) and OMP_WAIT_POLICY=PASSIVE (measured here under load: forward at
128 px 0.30-0.35 s passive against 1.0-1.5 s with the default spinning). Progress goes to stderr.
"""

import argparse
import json
import math
import os
import re
import resource
import statistics
import struct
import subprocess
import sys
import time

OPENBLAS_DIR = "/usr/lib/x86_64-linux-gnu/openblas-pthread"
WORKS = ["gatys-adam", "gatys-lbfgs", "forward", "inference-paper", "train-step-paper"]
DEFAULT_WORKS = ["gatys-adam", "gatys-lbfgs", "forward"]
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
# VGG-19's 16 convolutions (torchvision module index, in, out) and its layer names, as experiments/vgg.
CONVS = [(0, 3, 64), (2, 64, 64), (5, 64, 128), (7, 128, 128), (10, 128, 256), (12, 256, 256), (14, 256, 256),
         (16, 256, 256), (19, 256, 512), (21, 512, 512), (23, 512, 512), (25, 512, 512), (28, 512, 512),
         (30, 512, 512), (32, 512, 512), (34, 512, 512)]
BLOCKS = [2, 2, 4, 4, 4]
CONTENT_LAYERS = ["relu4_2"]
STYLE_LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
DEFAULTS = dict(content_weight=1.0, style_weight=5.0, tv_weight=0.05, learning_rate=0.01, lbfgs_history=10)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def layer_names():
    names = []
    for b, n in enumerate(BLOCKS, 1):
        for i in range(1, n + 1):
            names += [f"conv{b}_{i}", f"relu{b}_{i}"]
        names.append(f"pool{b}")
    return names


# ---------------------------------------------------------------------------------------------------------------
# The model and the losses (imported lazily: the parent process never loads torch)

def build(torch, weights=None):
    """Returns features(x_nchw, wanted) -> dict. weights: {module index: (OIHW weight, bias)} or He-normal."""
    nn = torch.nn
    gen = torch.Generator().manual_seed(0)
    convs = {}
    for idx, cin, cout in CONVS:
        conv = nn.Conv2d(cin, cout, 3, padding=1)
        with torch.no_grad():
            if weights is not None:
                w, b = weights[idx]
                conv.weight.copy_(w)
                conv.bias.copy_(b)
            else:
                conv.weight.normal_(0, math.sqrt(2.0 / (9 * cin)), generator=gen)
                conv.bias.zero_()
        conv.requires_grad_(False)
        convs[idx] = conv
    names = layer_names()
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    conv_order = [c[0] for c in CONVS]

    def features(x, wanted):
        deepest = max(names.index(w) for w in wanted)
        out = {}
        x = (x - mean) / std
        k = 0
        for name in names[:deepest + 1]:
            if name.startswith("conv"):
                x = convs[conv_order[k]](x)
                k += 1
            elif name.startswith("relu"):
                x = torch.relu(x)
            else:
                x = torch.nn.functional.avg_pool2d(x, 2)
            if name in wanted:
                out[name] = x
        return out

    return features


def gram(torch, f):
    b, c, h, w = f.shape
    p = f.reshape(b, c, h * w)
    return torch.bmm(p, p.transpose(1, 2)) / (h * w)


def make_terms(torch, features, content, style, cfg):
    """Returns terms(x) -> (total, dict of unweighted terms), with targets computed once."""
    layers = list(dict.fromkeys(cfg["content_layers"] + cfg["style_layers"]))
    with torch.no_grad():
        fc = features(content, cfg["content_layers"])
        fs = features(style, cfg["style_layers"])
        targets_c = {l: fc[l] for l in cfg["content_layers"]}
        targets_s = {l: gram(torch, fs[l]) for l in cfg["style_layers"]}
    lw = cfg.get("layer_weights") or {l: 1.0 / len(cfg["style_layers"]) for l in cfg["style_layers"]}

    def terms(x):
        f = features(x, layers)
        content_loss = sum(torch.mean((f[l] - targets_c[l]) ** 2) for l in cfg["content_layers"]) / len(cfg["content_layers"])
        by_layer = {}
        for l in cfg["style_layers"]:
            n = f[l].shape[1]
            by_layer[l] = torch.mean(torch.sum((gram(torch, f[l]) - targets_s[l]) ** 2, dim=(1, 2)) / (4.0 * n * n))
        style_loss = sum(lw.get(l, 0.0) * by_layer[l] for l in cfg["style_layers"])
        b, _, h, w = x.shape
        tv = (torch.sum((x[:, :, 1:, :] - x[:, :, :-1, :]) ** 2) + torch.sum((x[:, :, :, 1:] - x[:, :, :, :-1]) ** 2)) / (b * h * w)
        total = cfg["content_weight"] * content_loss + cfg["style_weight"] * style_loss + cfg["tv_weight"] * tv
        return total, dict(total=total, content=content_loss, style=style_loss, tv=tv, style_by_layer=by_layer)

    return terms


def images(torch, size):
    """bench.Images: the same formula, as NCHW float32 tensors."""
    import numpy as np
    y, x = np.meshgrid(np.arange(size, dtype=np.float64), np.arange(size, dtype=np.float64), indexing="ij")
    content = np.zeros((size, size, 3))
    style = np.zeros((size, size, 3))
    for c in range(3):
        content[:, :, c] = 0.5 + 0.4 * np.sin(2 * np.pi * (x / size * (c + 1) + y / size)) * np.cos(2 * np.pi * y / size * (3 - c) / 2)
        style[:, :, c] = 0.5 + 0.45 * np.sin(2 * np.pi * (8 * (x + y) / size + c / 3)) * np.sin(2 * np.pi * 3 * x / size)
    to = lambda a: torch.from_numpy(a.astype(np.float32)).permute(2, 0, 1).unsqueeze(0).contiguous()
    return to(content), to(style)


def default_cfg():
    cfg = dict(DEFAULTS)
    cfg.update(content_layers=CONTENT_LAYERS, style_layers=STYLE_LAYERS, layer_weights=None)
    return cfg


# ---------------------------------------------------------------------------------------------------------------
# The paper's feed-forward network (experiments/transformer) and its CIN training step (experiments/train, gpu
# preset), for the inference-paper and train-step-paper rows

PAPER_LAYERS = [("c1", 9, 3, 32, 1, False), ("c2", 3, 32, 64, 2, False), ("c3", 3, 64, 128, 2, False)] + \
    [(f"r{i}{ab}", 3, 128, 128, 1, False) for i in range(1, 6) for ab in "ab"] + \
    [("u1", 3, 128, 64, 1, True), ("u2", 3, 64, 32, 1, True), ("out", 9, 32, 3, 1, False)]
PEER_STYLES = 2  # bench's trainStepStyles


def build_transformer(torch, styles):
    """transformer.Paper(styles): reflect-padded convolutions without bias, each followed by conditional instance
    norm (eps 1e-5 inside the square root, biased variance; gamma, beta [S, C] mixed by the style weights), ReLU
    except after the second conv of each residual block and the last; nearest x2 upsampling before u1 and u2;
    sigmoid output. Weights He-uniform (values differ from stylelab's seeded ones, shapes are the same)."""
    nn, F = torch.nn, torch.nn.functional
    gen = torch.Generator().manual_seed(1)

    class Layer(nn.Module):
        def __init__(self, k, cin, cout, stride, up):
            super().__init__()
            lim = math.sqrt(6.0 / (k * k * cin))
            self.weight = nn.Parameter((torch.rand(cout, cin, k, k, generator=gen) * 2 - 1) * lim)
            self.gamma = nn.Parameter(torch.ones(styles, cout))
            self.beta = nn.Parameter(torch.zeros(styles, cout))
            self.k, self.stride, self.up = k, stride, up

        def forward(self, x, w, relu):
            if self.up:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            p = self.k // 2
            x = F.conv2d(F.pad(x, (p, p, p, p), mode="reflect"), self.weight, stride=self.stride)
            mean = x.mean(dim=(2, 3), keepdim=True)
            var = ((x - mean) ** 2).mean(dim=(2, 3), keepdim=True)
            x = (x - mean) / torch.sqrt(var + 1e-5)
            g, b = w @ self.gamma, w @ self.beta
            x = x * g[:, :, None, None] + b[:, :, None, None]
            return torch.relu(x) if relu else x

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([Layer(k, i, o, s, u) for _, k, i, o, s, u in PAPER_LAYERS])

        def forward(self, x, w):
            L = self.layers
            h = L[0](x, w, True)
            h = L[1](h, w, True)
            h = L[2](h, w, True)
            for i in range(5):
                r = L[3 + 2 * i](h, w, True)
                h = h + L[4 + 2 * i](r, w, False)
            h = L[13](h, w, True)
            h = L[14](h, w, True)
            return torch.sigmoid(L[15](h, w, False))

    return Net()


def train_step_setup(torch, size, batch):
    """The gpu preset's CIN training step (experiments/train): y = T(x, one-hot style); content loss mean((F_y -
    F_x)^2) at relu3_1; Gram style loss at relu1_1..relu4_1 against each example's style (targets computed once),
    mean over layers; TV; total = mean over the batch of (content + style_weight * style) + 0.05 * TV; Adam 1e-3 on
    the transformer. Contents: crops of the synthetic pictures; styles: PEER_STYLES synthetic styles at size."""
    features = build(torch)
    net = build_transformer(torch, PEER_STYLES)
    style_layers, content_layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1"], ["relu3_1"]
    contents = torch.cat([images(torch, 2 * size + 4 * i)[0][:, :, :size, :size] for i in range(batch)])
    styles = torch.cat([images(torch, size + 4 * k)[1][:, :, :size, :size] for k in range(PEER_STYLES)])
    with torch.no_grad():
        fs = features(styles, style_layers)
        targets = {l: gram(torch, fs[l]) for l in style_layers}  # [S, C, C]
    sidx = torch.tensor([i % PEER_STYLES for i in range(batch)])
    mix = torch.nn.functional.one_hot(sidx, PEER_STYLES).float()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    style_weight = DEFAULTS["style_weight"]

    def step():
        opt.zero_grad()
        y = net(contents, mix)
        fy = features(y, style_layers + content_layers)
        with torch.no_grad():
            fx = features(contents, content_layers)
        content = sum(((fy[l] - fx[l]) ** 2).mean(dim=(1, 2, 3)) for l in content_layers) / len(content_layers)
        style = 0
        for l in style_layers:
            n = fy[l].shape[1]
            style = style + torch.sum((gram(torch, fy[l]) - targets[l][sidx]) ** 2, dim=(1, 2)) / (4.0 * n * n) / len(style_layers)
        b, _, h, w = y.shape
        tv = (torch.sum((y[:, :, 1:, :] - y[:, :, :-1, :]) ** 2) + torch.sum((y[:, :, :, 1:] - y[:, :, :, :-1]) ** 2)) / (b * h * w)
        total = torch.mean(content + style_weight * style) + DEFAULTS["tv_weight"] * tv
        total.backward()
        opt.step()
        return float(total)

    return step


# ---------------------------------------------------------------------------------------------------------------
# One row, in a child process

def engine_info(torch):
    maps = open("/proc/self/maps").read()
    libs = sorted({os.path.basename(m) for m in re.findall(r"(/\S*(?:blas|blis)\S*\.so[\S]*)", maps)})
    blas = ", ".join(libs) if libs else "generic (no BLAS library mapped)"
    conv = "oneDNN convolutions" if torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled else "im2col convolutions"
    return f"{blas} + {conv}", os.environ.get("OPENBLAS_CORETYPE", "")


def cpu_model():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def measure(work, size, steps, warmup):
    import torch
    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)
    features = build(torch)
    content, style = images(torch, size)
    cfg = default_cfg()
    samples, cpu, evals_total, loss = [], 0.0, 0, 0.0
    total_steps = 1 + warmup + steps

    if work == "inference-paper":
        net = build_transformer(torch, PEER_STYLES)
        w = torch.nn.functional.one_hot(torch.tensor([0]), PEER_STYLES).float()
        for i in range(total_steps):
            c0, t0 = time.process_time(), time.perf_counter()
            with torch.no_grad():
                y = net(content, w).numpy()
            dt = time.perf_counter() - t0
            log(f"peer inference-paper {size}px: image {i} {1000 * dt:.1f}ms")
            if i >= 1 + warmup:
                samples.append(dt)
                cpu += time.process_time() - c0
        del y
    elif work == "train-step-paper":
        step = train_step_setup(torch, size, 4)
        for i in range(total_steps):
            c0, t0 = time.process_time(), time.perf_counter()
            loss = step()
            dt = time.perf_counter() - t0
            log(f"peer train-step-paper {size}px: step {i} {dt:.3f}s (loss {loss:.6g})")
            if i >= 1 + warmup:
                samples.append(dt)
                cpu += time.process_time() - c0
    elif work == "forward":
        layers = list(dict.fromkeys(cfg["content_layers"] + cfg["style_layers"]))
        for i in range(total_steps):
            c0, t0 = time.process_time(), time.perf_counter()
            with torch.no_grad():
                out = features(content, layers)
                _ = float(out["relu5_1"].sum())
            dt = time.perf_counter() - t0
            log(f"peer forward {size}px: pass {i} {dt:.3f}s")
            if i >= 1 + warmup:
                samples.append(dt)
                cpu += time.process_time() - c0
    else:
        terms = make_terms(torch, features, content, style, cfg)
        x = content.clone().requires_grad_(True)
        count = [0]
        if work == "gatys-adam":
            opt = torch.optim.Adam([x], lr=cfg["learning_rate"], betas=(0.9, 0.999), eps=1e-7)
        else:
            opt = torch.optim.LBFGS([x], lr=1, max_iter=1, history_size=cfg["lbfgs_history"], line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            total, _ = terms(x)
            total.backward()
            count[0] += 1
            return total

        for i in range(total_steps):
            count[0] = 0
            c0, t0 = time.process_time(), time.perf_counter()
            if work == "gatys-adam":
                loss = float(closure())
                opt.step()
            else:
                loss = float(opt.step(closure))
            with torch.no_grad():
                x.clamp_(0, 1)
            dt = time.perf_counter() - t0
            log(f"peer {work} {size}px: step {i} {dt:.3f}s (evals {count[0]}, loss {loss:.6g})")
            if i >= 1 + warmup:
                samples.append(dt)
                cpu += time.process_time() - c0
                evals_total += count[0]
    engine, core = engine_info(torch)
    row = dict(work=work, size=size, seconds=statistics.median(samples), samples=samples, cpu_seconds=cpu / len(samples),
               peak_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, peak_rss_scope="process so far",
               backend=f"pytorch-{torch.__version__}", matmul_engine=engine, core_type=core, cpu=cpu_model(),
               threads=torch.get_num_threads())
    if work == "gatys-lbfgs":
        row["evals_per_step"] = evals_total / len(samples)
        row["seconds_per_eval"] = sum(samples) / evals_total
    if work == "inference-paper":
        row["ms_per_image"] = 1000 * row["seconds"]
    if work not in ("forward", "inference-paper"):
        row["loss"] = loss
    return row


def child_env(core_type, omp_wait_policy):
    env = dict(os.environ)
    if omp_wait_policy:
        env["OMP_WAIT_POLICY"] = omp_wait_policy
    if os.path.isdir(OPENBLAS_DIR):
        env["LD_LIBRARY_PATH"] = OPENBLAS_DIR + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    if core_type:
        env["OPENBLAS_CORETYPE"] = core_type
    else:
        env.pop("OPENBLAS_CORETYPE", None)
    return env


def run_child(work, size, args, env, stylelab=None):
    """Runs one row in a child process: this script, or with stylelab=BIN `BIN bench --row WORK:SIZE`."""
    if stylelab:
        cmd = [stylelab, "bench", "--row", f"{work}:{size}"]
        env = os.environ
    else:
        cmd = [sys.executable, os.path.abspath(__file__), "--row", f"{work}:{size}"]
    cmd += ["--steps", str(args.steps), "--warmup", str(args.warmup)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"peer: {' '.join(cmd)} failed with exit status {p.returncode}")
    row = json.loads(out)
    row["peak_rss_bytes"], row["peak_rss_scope"] = ru.ru_maxrss * 1024, "row (child process)"
    return row


# ---------------------------------------------------------------------------------------------------------------
# --check: the same maths as stylelab on identical weights and inputs

def read_safetensors(path):
    import numpy as np
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if t["dtype"] != "F32":
            raise SystemExit(f"peer --check: {path}: tensor {name} has dtype {t['dtype']}, want F32")
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype="<f4").reshape(t["shape"]).copy()
    return out


def _terms_dict(t):
    got = dict(total=float(t["total"]), content=float(t["content"]), style=float(t["style"]), tv=float(t["tv"]))
    got.update({f"style {l}": float(v) for l, v in t["style_by_layer"].items()})
    return got


def _want_dict(step):
    want = dict(total=step["total"], content=step["content"], style=step["style"], tv=step["tv"])
    want.update({f"style {l}": v for l, v in step["style_by_layer"].items()})
    return want


def _compare(lines, label, got, want):
    worst = 0.0
    for k in want:
        rel = abs(got[k] - want[k]) / max(abs(want[k]), 1e-30)
        worst = max(worst, rel)
        lines.append(f"{label} {k:16s} stylelab {want[k]:.10g}  pytorch {got[k]:.10g}  rel {rel:.2e}")
    return worst


def _setup(torch, dirname, exp, dtype):
    w = read_safetensors(os.path.join(dirname, "weights.safetensors"))
    weights = {idx: (torch.from_numpy(w[f"features.{idx}.weight"]).to(dtype), torch.from_numpy(w[f"features.{idx}.bias"]).to(dtype)) for idx, _, _ in CONVS}
    ins = {k: torch.from_numpy(v).to(dtype).permute(0, 3, 1, 2).contiguous() for k, v in read_safetensors(os.path.join(dirname, "inputs.safetensors")).items()}
    c = exp["config"]
    cfg = dict(content_weight=c["content_weight"], style_weight=c["style_weight"], tv_weight=c["tv_weight"],
               content_layers=c["content_layers"], style_layers=c["style_layers"], layer_weights=c.get("layer_weights"))
    return make_terms(torch, build(torch, weights), ins["content"], ins["style"], cfg), ins


def check(dirname, tol, tol32):
    """Two comparisons on stylelab's weights and inputs:
    1. the maths: PyTorch in float64 against stylelab's terms of the init image computed in float64 (tolerance tol);
    2. the run: PyTorch in float32, Adam steps 0..N (forward, gradient, update, clamp) against stylelab's float32
       run (tolerance tol32: float32 rounding, which differs between the two implementations' summation orders)."""
    import torch
    torch.set_num_threads(os.cpu_count() or 1)
    exp = json.load(open(os.path.join(dirname, "expected.json")))
    c = exp["config"]
    if c["loss"] != "gram" or c["pool"] != "avg" or c["optimizer"] != "adam" or len(c.get("style_blend") or [1]) != 1:
        raise SystemExit(f"peer --check supports the Gram loss, average pooling, Adam and one style image; got {c['loss']}, {c['pool']}, {c['optimizer']}")
    lines = []
    torch.set_default_dtype(torch.float64)
    terms, ins = _setup(torch, dirname, exp, torch.float64)
    with torch.no_grad():
        _, t = terms(ins["init"])
    want64 = _want_dict(exp["float64_step0"])
    del want64["total"]  # not exported in float64: the weighted sum is checked by the float32 run's totals
    worst64 = _compare(lines, "float64 step 0", _terms_dict(t), want64)

    torch.set_default_dtype(torch.float32)
    terms, ins = _setup(torch, dirname, exp, torch.float32)
    x = ins["init"].clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=c["learning_rate"], betas=(0.9, 0.999), eps=1e-7)
    worst32 = 0.0
    for step in exp["steps"]:
        opt.zero_grad()
        total, t = terms(x)
        worst32 = max(worst32, _compare(lines, f"float32 step {step['step']}", _terms_dict(t), _want_dict(step)))
        if step["step"] < len(exp["steps"]) - 1:
            total.backward()
            opt.step()
            with torch.no_grad():
                x.clamp_(0, 1)
    print("\n".join(lines))
    ok64, ok32 = worst64 <= tol, worst32 <= tol32
    print(f"peer --check: {exp['size']} px, weights {exp['weights']} (sha256 {exp['weights_sha256'][:12]}…), stylelab backend {exp['backend']}")
    print(f"peer --check: float64 maths (init image, every term): largest relative difference {worst64:.2e} (tolerance {tol:g}): {'PASS' if ok64 else 'FAIL'}")
    print(f"peer --check: float32 Adam run, steps 0..{len(exp['steps']) - 1}: largest relative difference {worst32:.2e} (tolerance {tol32:g}): {'PASS' if ok32 else 'FAIL'}")
    return 0 if ok64 and ok32 else 1


# ---------------------------------------------------------------------------------------------------------------

def table(peer_rows, sl_rows):
    sl = {(r["work"], r["size"]): r for r in sl_rows}
    print(f"{'work':16s} {'size':>5s} {'stylelab s':>11s} {'pytorch s':>10s} {'ratio':>6s} {'stylelab MB':>12s} {'pytorch MB':>11s} {'RSS ratio':>9s}   notes")
    for r in peer_rows:
        s = sl.get((r["work"], r["size"]))
        if s is None:
            continue
        note = ""
        if r["work"] == "gatys-lbfgs":
            note = (f"evals/step {s.get('evals_per_step', 0):.2f} vs {r.get('evals_per_step', 0):.2f}; "
                    f"s/eval {s.get('seconds_per_eval', 0):.3g} vs {r.get('seconds_per_eval', 0):.3g}")
        smb, pmb = s.get("peak_rss_bytes", 0) / 1e6, r.get("peak_rss_bytes", 0) / 1e6
        rss = f"{smb / pmb:9.2f}" if pmb > 0 else f"{'-':>9s}"
        print(f"{r['work']:16s} {r['size']:5d} {s['seconds']:11.4g} {r['seconds']:10.4g} {s['seconds'] / r['seconds']:6.2f} {smb:12.0f} {pmb:11.0f} {rss}   {note}")
    if peer_rows and sl_rows:
        print(f"stylelab: {sl_rows[0]['backend']}, matmul {sl_rows[0]['matmul_engine']} {sl_rows[0].get('core_type', '')}")
        print(f"pytorch:  {peer_rows[0]['backend']}, {peer_rows[0]['matmul_engine']}, OPENBLAS_CORETYPE={peer_rows[0].get('core_type') or '(auto)'}, {peer_rows[0]['threads']} threads")
        print(f"CPU: {peer_rows[0]['cpu']}; ratio = stylelab s / pytorch s (below 1: stylelab is faster); RSS ratio = "
              f"stylelab peak RSS / pytorch peak RSS, each row in its own child process (below 1: stylelab needs less)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="print a JSON array of rows")
    ap.add_argument("--sizes", default="64,128,256")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--work", default=",".join(DEFAULT_WORKS), help=f"works measured at every size (of {','.join(WORKS)})")
    ap.add_argument("--rows", help="comma-separated WORK:SIZE rows, e.g. gatys-adam:512,inference-paper:1024 (instead of --work × --sizes)")
    ap.add_argument("--stylelab-json", help="stylelab bench --json output: BLAS core type from it; print the comparison table")
    ap.add_argument("--stylelab", metavar="BIN", help="the stylelab binary: run its rows too, each right before the peer's same row (same time window on a shared machine); print the comparison table")
    ap.add_argument("--stylelab-json-out", help="with --stylelab: also write stylelab's rows to this file")
    ap.add_argument("--omp-wait-policy", default="PASSIVE", help="OMP_WAIT_POLICY for PyTorch's OpenMP threads (default PASSIVE: "
                    "spinning threads lose badly on a shared, oversubscribed machine; '' keeps the environment's)")
    ap.add_argument("--json-out", help="also write the peer's rows to this file")
    ap.add_argument("--core-type", help="OPENBLAS_CORETYPE to use (default: stylelab's, from --stylelab-json)")
    ap.add_argument("--check", metavar="DIR", help="compare losses with `stylelab bench --export-check DIR`")
    ap.add_argument("--tolerance", type=float, default=1e-4, help="--check: largest relative difference allowed in float64")
    ap.add_argument("--tolerance32", type=float, default=1e-3, help="--check: largest relative difference allowed in the float32 run")
    ap.add_argument("--row", help=argparse.SUPPRESS)
    args = ap.parse_args()
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        ap.error(f"--sizes must be comma-separated integers like 64,128,256 (got {args.sizes!r})")
    if not sizes or any(s < 32 or s > 2048 for s in sizes):
        ap.error(f"--sizes: each size must be between 32 and 2048 (got {args.sizes!r})")
    works = [w.strip() for w in args.work.split(",") if w.strip()]
    if not works or any(w not in WORKS for w in works):
        ap.error(f"--work: use one or more of {','.join(WORKS)} (got {args.work!r})")
    plan = [(w, s) for s in sizes for w in works]
    if args.rows:
        plan = []
        for item in args.rows.split(","):
            w, _, sz = item.strip().partition(":")
            if w not in WORKS or not sz.isdigit() or not 32 <= int(sz) <= 2048:
                ap.error(f"--rows: each row is WORK:SIZE with WORK one of {','.join(WORKS)} and SIZE in 32..2048 (got {item!r})")
            plan.append((w, int(sz)))
    if args.steps < 1 or args.warmup < 0:
        ap.error("--steps must be ≥ 1 and --warmup ≥ 0")

    if args.check:
        sys.exit(check(args.check, args.tolerance, args.tolerance32))
    if args.row:
        work, size = args.row.split(":")
        print(json.dumps(measure(work, int(size), args.steps, args.warmup)))
        return

    sl_rows = []
    if args.stylelab_json:
        sl_rows = json.load(open(args.stylelab_json))
    core, why = args.core_type, "--core-type"
    if core is None and args.stylelab:
        # stylelab's choice, as `stylelab doctor --json` reports it (backend.matmul.core_type).
        doc = json.loads(subprocess.run([args.stylelab, "doctor", "--json"], capture_output=True, check=True).stdout)
        core, why = ((doc.get("backend") or {}).get("matmul") or {}).get("core_type") or "", "stylelab doctor"
    if core is None:
        core, why = next((r.get("core_type") for r in sl_rows if r.get("core_type")), ""), "stylelab's rows"
    if not core and os.environ.get("OPENBLAS_CORETYPE"):
        core, why = os.environ["OPENBLAS_CORETYPE"], "the environment (stylelab reported no BLAS core type)"
    env = child_env(core, args.omp_wait_policy)
    log(f"peer: LD_LIBRARY_PATH={env.get('LD_LIBRARY_PATH', '')} OPENBLAS_CORETYPE={core + ' from ' + why if core else '(OpenBLAS auto-detection: none given)'} OMP_WAIT_POLICY={env.get('OMP_WAIT_POLICY', '(default)')}")
    rows = []
    if args.stylelab:
        sl_rows = []
    for work, size in plan:
        if args.stylelab:
            log(f"peer: stylelab {work} at {size} px…")
            sl_rows.append(run_child(work, size, args, None, args.stylelab))
        log(f"peer: pytorch {work} at {size} px…")
        rows.append(run_child(work, size, args, env))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(rows, f, indent=2)
    if args.stylelab_json_out and args.stylelab:
        with open(args.stylelab_json_out, "w") as f:
            json.dump(sl_rows, f, indent=2)
    if args.json:
        print(json.dumps(rows, indent=2))
    elif sl_rows:
        table(rows, sl_rows)
    else:
        for r in rows:
            print(f"{r['work']:12s} {r['size']:5d} {r['seconds']:.4g} s/step  peak {r['peak_rss_bytes'] / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
