#!/usr/bin/python3
"""Writes the PyTorch files experiments/pth's tests read (Debian's python3-torch; run with /usr/bin/python3).

    make_fixtures.py OUTDIR

OUTDIR/state_zip.pth, state_legacy.pth   one state dict, zip (torch >= 1.6) and legacy serialisation:
    float32, float16, bfloat16, float64, int64 tensors, a transposed (non-contiguous) tensor, two tensors that
    share one storage at different offsets, a scalar, a nested dict and non-tensor entries
OUTDIR/expected.json                     every tensor's dtype, shape and values (row-major, as float)
OUTDIR/evil_zip.pth, evil_legacy.pth     a dict whose entry pickles to os.system("echo pwned") through __reduce__
OUTDIR/module_zip.pth                    a whole nn.Module saved with torch.save(model)
OUTDIR/torchscript.pt                    torch.jit.save of a scripted nn.Linear

Values are seeded (torch.manual_seed(20)), so the same torch gives the same files.
"""
import collections
import json
import os
import sys

import torch


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def state_dict():
    torch.manual_seed(20)
    base = torch.randn(12)
    sd = collections.OrderedDict()
    sd["conv.weight"] = torch.randn(4, 3, 3, 3)
    sd["conv.bias"] = torch.randn(4)
    sd["half"] = torch.randn(2, 5).half()
    sd["bf16"] = torch.randn(3, 2).bfloat16()
    sd["double"] = torch.randn(7).double()
    sd["long"] = torch.tensor([3, -1, 1 << 40], dtype=torch.int64)
    sd["transposed"] = torch.randn(3, 4).t()  # strides (1, 4)
    sd["view.head"] = base[:5]
    sd["view.tail"] = base[5:].view(7, 1)  # offset 5 into the same storage
    sd["scalar"] = torch.tensor(2.5)
    sd["nested"] = {"inner.weight": torch.randn(2, 2)}
    sd["epoch"] = 7
    sd["note"] = "not a tensor"
    return sd


def flat(sd, prefix=""):
    for k, v in sd.items():
        if isinstance(v, dict):
            yield from flat(v, prefix + k + ".")
        elif torch.is_tensor(v):
            yield prefix + k, v


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    sd = state_dict()
    torch.save(sd, os.path.join(out, "state_zip.pth"))
    torch.save(sd, os.path.join(out, "state_legacy.pth"), _use_new_zipfile_serialization=False)
    exp = {}
    for name, t in flat(sd):
        exp[name] = {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape),
                     "values": t.double().flatten().tolist()}
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(exp, f, indent=0, sort_keys=True)
    evil = {"weight": torch.zeros(2), "payload": Evil()}
    torch.save(evil, os.path.join(out, "evil_zip.pth"))
    torch.save(evil, os.path.join(out, "evil_legacy.pth"), _use_new_zipfile_serialization=False)
    torch.save(torch.nn.Linear(2, 2), os.path.join(out, "module_zip.pth"))
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), os.path.join(out, "torchscript.pt"))


if __name__ == "__main__":
    main()
