#!/usr/bin/python3
"""PyTorch's own VGG features for experiments/vgg's agreement test (Debian's python3-torch; /usr/bin/python3).

    torch_vgg.py OUTDIR

For each case below it builds the network the way its original code does (torchvision's `features` Sequential;
pytorch-AdaIN's net.vgg with its 1x1 conv and reflection pads), draws seeded He-normal weights, saves the state
dict in the case's key layout and serialisation to OUTDIR/<file>, and runs the network on one fixed image with
that layout's input convention applied here in Python (torchvision: mean/std; caffe: RGB->BGR, x255, minus the
BGR means; adain: the raw [0,1] image into the 1x1 conv, whose values are the real vgg_normalised's: a BGR x255
permutation and minus the BGR means). Features are written as raw little-endian float32 NHWC to
OUTDIR/<case>.<layer>.f32, and OUTDIR/cases.json lists cases, files, layers and shapes.

The image is x[c, i, j] = 0.5 + 0.45 sin(0.31 i + 0.17 j + 1.3 c) cos(0.23 j - 0.11 i c), 1x3xHxW (H=W=32),
which the Go test rebuilds from the same formula.
"""
import collections
import json
import math
import os
import sys

import torch
import torch.nn as nn

VGG19 = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
SIZE = 32
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
CAFFE_MEAN_BGR = torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)


def names_for(cfg):
    """torchvision features index -> stylelab layer name (conv/relu/pool)."""
    out, block, k, i = {}, 1, 1, 0
    for v in cfg:
        if v == "M":
            out[i] = f"pool{block}"
            block, k, i = block + 1, 1, i + 1
        else:
            out[i], out[i + 1] = f"conv{block}_{k}", f"relu{block}_{k}"
            k, i = k + 1, i + 2
    return out


def torchvision_features(cfg):
    layers, c = [], 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(c, v, kernel_size=3, padding=1), nn.ReLU(inplace=False)]
            c = v
    return nn.Sequential(*layers)


def adain_vgg():
    """pytorch-AdaIN net.py `vgg`, verbatim in structure."""
    L = []
    L.append(nn.Conv2d(3, 3, (1, 1)))
    c = 3
    for v in VGG19:
        if v == "M":
            L.append(nn.MaxPool2d((2, 2), (2, 2), (0, 0), ceil_mode=True))
        else:
            L += [nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(c, v, (3, 3)), nn.ReLU()]
            c = v
    return nn.Sequential(*L[:-1])  # vgg_normalised ends at relu5_4 (no pool5)


def adain_names():
    out, block, k, i = {}, 1, 1, 1
    for v in VGG19:
        if v == "M":
            out[i] = f"pool{block}"
            block, k, i = block + 1, 1, i + 1
        else:
            out[i + 1], out[i + 2] = f"conv{block}_{k}", f"relu{block}_{k}"
            k, i = k + 1, i + 3
    return out


def he_init(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3):
                fan_in = m.in_channels * 9
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * math.sqrt(2.0 / fan_in))
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.05)


def image():
    c = torch.arange(3.0).view(3, 1, 1)
    i = torch.arange(float(SIZE)).view(1, SIZE, 1)
    j = torch.arange(float(SIZE)).view(1, 1, SIZE)
    x = 0.5 + 0.45 * torch.sin(0.31 * i + 0.17 * j + 1.3 * c) * torch.cos(0.23 * j - 0.11 * i * c)
    return x.unsqueeze(0).float()


def run(seq, names, x, want):
    out = {}
    for idx, m in enumerate(seq):
        x = m(x)
        if idx in names and names[idx] in want:
            out[names[idx]] = x
    return out


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    x = image()
    want = ["relu1_1", "relu1_2", "relu2_1", "relu3_1", "relu3_3", "relu4_1", "relu4_2", "relu5_1", "relu5_3"]
    cases = []
    for case, cfg, layout, fname, legacy, dtype in [
        ("vgg19-torchvision-zip", VGG19, "torchvision", "vgg19-tv.pth", False, torch.float32),
        ("vgg16-torchvision-legacy-f16", VGG16, "torchvision", "vgg16-tv.pth", True, torch.float16),
        ("vgg19-caffe-zip", VGG19, "caffe", "vgg19-d01eb7cb.pth", False, torch.float32),
        ("vgg16-caffe-legacy", VGG16, "caffe", "vgg16-00b39a1b.pth", True, torch.float32),
        ("vgg19-adain-legacy", None, "adain", "vgg_normalised.pth", True, torch.float32),
        ("vgg19-adain-zip-bf16", None, "adain", "vgg_normalised_bf16.pth", False, torch.bfloat16),
    ]:
        if layout == "adain":
            seq, names = adain_vgg(), adain_names()
            he_init(seq, 7)
            with torch.no_grad():
                w = torch.zeros(3, 3, 1, 1)
                for j in range(3):
                    w[j, 2 - j, 0, 0] = 255.0
                seq[0].weight.copy_(w)
                seq[0].bias.copy_(-CAFFE_MEAN_BGR.flatten())
            sd = seq.state_dict()
        else:
            seq, names = torchvision_features(cfg), names_for(cfg)
            he_init(seq, 3 if cfg is VGG19 else 5)
            sd = collections.OrderedDict(("features." + k, v) for k, v in seq.state_dict().items())
            sd["classifier.0.weight"] = torch.zeros(2, 2)  # the classifier is ignored (real ones are 4096x25088)
            sd["classifier.0.bias"] = torch.zeros(2)
        sd = collections.OrderedDict((k, v.to(dtype)) for k, v in sd.items())
        path = os.path.join(outdir, fname)
        torch.save(sd, path, _use_new_zipfile_serialization=not legacy)
        # The network PyTorch runs holds exactly the saved values (rounded to dtype), in float32.
        with torch.no_grad():
            seq.load_state_dict(collections.OrderedDict(
                (k[len("features."):] if k.startswith("features.") else k, v.float())
                for k, v in sd.items() if not k.startswith("classifier.")))
            if layout == "torchvision":
                inp = (x - MEAN) / STD
            elif layout == "caffe":
                inp = x[:, [2, 1, 0]] * 255.0 - CAFFE_MEAN_BGR
            else:
                inp = x
            layers = [l for l in want if cfg is not VGG16 or l in names.values()]
            feats = run(seq, names, inp, layers)
        entry = {"case": case, "file": fname, "layout": layout, "net": "vgg16" if cfg is VGG16 else "vgg19",
                 "dtype": str(dtype).replace("torch.", ""), "layers": {}}
        for l, f in feats.items():
            a = f.permute(0, 2, 3, 1).contiguous()
            a.numpy().astype("<f4").tofile(os.path.join(outdir, f"{case}.{l}.f32"))
            entry["layers"][l] = list(a.shape)
        cases.append(entry)
    with open(os.path.join(outdir, "cases.json"), "w") as f:
        json.dump({"size": SIZE, "cases": cases}, f, indent=1)


if __name__ == "__main__":
    main()
