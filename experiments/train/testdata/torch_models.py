#!/usr/bin/python3
"""PyTorch's own outputs of the pretrained models stylelab imports (Debian's python3-torch; /usr/bin/python3).

    torch_models.py OUTDIR [--tiny-only]

TransformerNet, ConvLayer, ResidualBlock and UpsampleConvLayer below are pytorch/examples
fast_neural_style/neural_style/transformer_net.py (a `width` argument scales the 32/64/128 channels; 1 is theirs);
the decoder, the vgg and adaptive_instance_normalization/calc_mean_std are naoto0804/pytorch-AdaIN's net.py and
function.py, and style_transfer is its test.py. Weights are seeded random (the last layers' biases moved so that
outputs fall inside the clamped range). Written to OUTDIR:

  tn_tiny.pth (zip, width 1/8), tn_full_legacy.pth (width 1, legacy, with the inN.running_mean/var keys old
  PyTorch saved), each with <name>.out.f32: stylize's output clamp(y, 0, 255)/255 as HWC float32, for content.f32;
  tn_missing.pth (no in3.bias), tn_extra.pth (an extra key), tn_shape.pth (deconv3 is 3x3, not 9x9);
  decoder.pth (zip), vgg_normalised.pth (legacy), adain.out.f32: style_transfer(vgg, decoder, content, style,
  alpha=0.8) clamped to [0,1];
  content.f32, style.f32: the images (HWC float32, 32x32), from the formulas in image() below; index.json.
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn

SIZE = 32


class TransformerNet(torch.nn.Module):
    def __init__(self, width=1.0):
        super(TransformerNet, self).__init__()
        c1, c2, c3 = round(32 * width), round(64 * width), round(128 * width)
        self.conv1 = ConvLayer(3, c1, kernel_size=9, stride=1)
        self.in1 = torch.nn.InstanceNorm2d(c1, affine=True)
        self.conv2 = ConvLayer(c1, c2, kernel_size=3, stride=2)
        self.in2 = torch.nn.InstanceNorm2d(c2, affine=True)
        self.conv3 = ConvLayer(c2, c3, kernel_size=3, stride=2)
        self.in3 = torch.nn.InstanceNorm2d(c3, affine=True)
        self.res1 = ResidualBlock(c3)
        self.res2 = ResidualBlock(c3)
        self.res3 = ResidualBlock(c3)
        self.res4 = ResidualBlock(c3)
        self.res5 = ResidualBlock(c3)
        self.deconv1 = UpsampleConvLayer(c3, c2, kernel_size=3, stride=1, upsample=2)
        self.in4 = torch.nn.InstanceNorm2d(c2, affine=True)
        self.deconv2 = UpsampleConvLayer(c2, c1, kernel_size=3, stride=1, upsample=2)
        self.in5 = torch.nn.InstanceNorm2d(c1, affine=True)
        self.deconv3 = ConvLayer(c1, 3, kernel_size=9, stride=1)
        self.relu = torch.nn.ReLU()

    def forward(self, X):
        y = self.relu(self.in1(self.conv1(X)))
        y = self.relu(self.in2(self.conv2(y)))
        y = self.relu(self.in3(self.conv3(y)))
        y = self.res1(y)
        y = self.res2(y)
        y = self.res3(y)
        y = self.res4(y)
        y = self.res5(y)
        y = self.relu(self.in4(self.deconv1(y)))
        y = self.relu(self.in5(self.deconv2(y)))
        y = self.deconv3(y)
        return y


class ConvLayer(torch.nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride):
        super(ConvLayer, self).__init__()
        self.reflection_pad = torch.nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = torch.nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x):
        out = self.reflection_pad(x)
        out = self.conv2d(out)
        return out


class ResidualBlock(torch.nn.Module):
    def __init__(self, channels):
        super(ResidualBlock, self).__init__()
        self.conv1 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in1 = torch.nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in2 = torch.nn.InstanceNorm2d(channels, affine=True)
        self.relu = torch.nn.ReLU()

    def forward(self, x):
        residual = x
        out = self.relu(self.in1(self.conv1(x)))
        out = self.in2(self.conv2(out))
        out = out + residual
        return out


class UpsampleConvLayer(torch.nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride, upsample=None):
        super(UpsampleConvLayer, self).__init__()
        self.upsample = upsample
        self.reflection_pad = torch.nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = torch.nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x):
        x_in = x
        if self.upsample:
            x_in = torch.nn.functional.interpolate(x_in, mode='nearest', scale_factor=self.upsample)
        out = self.reflection_pad(x_in)
        out = self.conv2d(out)
        return out


decoder = nn.Sequential(
    nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(512, 256, (3, 3)), nn.ReLU(),
    nn.Upsample(scale_factor=2, mode='nearest'),
    nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(256, 256, (3, 3)), nn.ReLU(),
    nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(256, 256, (3, 3)), nn.ReLU(),
    nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(256, 256, (3, 3)), nn.ReLU(),
    nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(256, 128, (3, 3)), nn.ReLU(),
    nn.Upsample(scale_factor=2, mode='nearest'),
    nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(128, 128, (3, 3)), nn.ReLU(),
    nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(128, 64, (3, 3)), nn.ReLU(),
    nn.Upsample(scale_factor=2, mode='nearest'),
    nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(64, 64, (3, 3)), nn.ReLU(),
    nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(64, 3, (3, 3)),
)

VGG19 = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512]


def make_vgg():
    L, c = [nn.Conv2d(3, 3, (1, 1))], 3
    for v in VGG19:
        if v == "M":
            L.append(nn.MaxPool2d((2, 2), (2, 2), (0, 0), ceil_mode=True))
        else:
            L += [nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(c, v, (3, 3)), nn.ReLU()]
            c = v
    return nn.Sequential(*L)


def calc_mean_std(feat, eps=1e-5):
    size = feat.size()
    assert (len(size) == 4)
    N, C = size[:2]
    feat_var = feat.view(N, C, -1).var(dim=2) + eps
    feat_std = feat_var.sqrt().view(N, C, 1, 1)
    feat_mean = feat.view(N, C, -1).mean(dim=2).view(N, C, 1, 1)
    return feat_mean, feat_std


def adaptive_instance_normalization(content_feat, style_feat):
    assert (content_feat.size()[:2] == style_feat.size()[:2])
    size = content_feat.size()
    style_mean, style_std = calc_mean_std(style_feat)
    content_mean, content_std = calc_mean_std(content_feat)
    normalized_feat = (content_feat - content_mean.expand(size)) / content_std.expand(size)
    return normalized_feat * style_std.expand(size) + style_mean.expand(size)


def style_transfer(vgg, decoder, content, style, alpha=1.0):
    assert (0.0 <= alpha <= 1.0)
    content_f = vgg(content)
    style_f = vgg(style)
    feat = adaptive_instance_normalization(content_f, style_f)
    feat = feat * alpha + content_f * (1 - alpha)
    return decoder(feat)


def he(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * math.sqrt(2.0 / fan_in))
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.05)
            if isinstance(m, nn.InstanceNorm2d):
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))


def image(k):
    """x[c,i,j] = 0.5 + 0.45 sin(a i + b j + 1.3 c + k) cos(0.23 j - 0.11 i c), a, b = 0.31, 0.17 (k=0) or 0.12, 0.41."""
    a, b = (0.31, 0.17) if k == 0 else (0.12, 0.41)
    c = torch.arange(3.0).view(3, 1, 1)
    i = torch.arange(float(SIZE)).view(1, SIZE, 1)
    j = torch.arange(float(SIZE)).view(1, 1, SIZE)
    x = 0.5 + 0.45 * torch.sin(a * i + b * j + 1.3 * c + k) * torch.cos(0.23 * j - 0.11 * i * c)
    return x.unsqueeze(0).float()


def hwc(t, path):
    t[0].permute(1, 2, 0).contiguous().numpy().astype("<f4").tofile(path)


def main():
    out = sys.argv[1]
    tiny_only = "--tiny-only" in sys.argv
    os.makedirs(out, exist_ok=True)
    content, style = image(0), image(1)
    hwc(content, os.path.join(out, "content.f32"))
    hwc(style, os.path.join(out, "style.f32"))
    index = {"size": SIZE, "transformer": [], "adain": None}
    nets = [("tn_tiny", 0.125, False)]
    if not tiny_only:
        nets.append(("tn_full_legacy", 1.0, True))
    for name, width, legacy in nets:
        net = TransformerNet(width)
        he(net, 11)
        with torch.no_grad():
            net.deconv3.conv2d.bias.fill_(127.5)
            net.deconv3.conv2d.weight.mul_(20.0)
            y = net(content * 255).clamp(0, 255) / 255
        sd = net.state_dict()
        if legacy:  # old PyTorch saved running stats for InstanceNorm2d; pytorch/examples' stylize deletes them
            for k in list(sd.keys()):
                if ".in" in "." + k or k.startswith("in"):
                    base = k.rsplit(".", 1)[0]
                    sd[base + ".running_mean"] = torch.zeros(sd[base + ".weight"].shape)
                    sd[base + ".running_var"] = torch.ones(sd[base + ".weight"].shape)
        torch.save(sd, os.path.join(out, name + ".pth"), _use_new_zipfile_serialization=not legacy)
        hwc(y, os.path.join(out, name + ".out.f32"))
        index["transformer"].append({"file": name + ".pth", "out": name + ".out.f32", "width": width})
        if name == "tn_tiny":
            bad = dict(sd)
            del bad["in3.bias"]
            torch.save(bad, os.path.join(out, "tn_missing.pth"))
            bad = dict(sd)
            bad["extra.weight"] = torch.zeros(2)
            torch.save(bad, os.path.join(out, "tn_extra.pth"))
            bad = dict(sd)
            bad["deconv3.conv2d.weight"] = torch.zeros(3, round(32 * width), 3, 3)
            torch.save(bad, os.path.join(out, "tn_shape.pth"))
    if not tiny_only:
        vgg, dec = make_vgg(), decoder
        he(vgg, 7)
        he(dec, 13)
        with torch.no_grad():
            w = torch.zeros(3, 3, 1, 1)
            for j in range(3):
                w[j, 2 - j, 0, 0] = 255.0
            vgg[0].weight.copy_(w)
            vgg[0].bias.copy_(-torch.tensor([103.939, 116.779, 123.68]))
            dec[-1].bias.fill_(0.5)
            dec[-1].weight.mul_(0.05)
        torch.save(vgg.state_dict(), os.path.join(out, "vgg_normalised.pth"), _use_new_zipfile_serialization=False)
        torch.save(dec.state_dict(), os.path.join(out, "decoder.pth"))
        enc = nn.Sequential(*list(vgg.children())[:31])  # to relu4_1, as test.py
        with torch.no_grad():
            y = style_transfer(enc, dec, content, style, alpha=0.8).clamp(0, 1)
        hwc(y, os.path.join(out, "adain.out.f32"))
        index["adain"] = {"decoder": "decoder.pth", "encoder": "vgg_normalised.pth", "out": "adain.out.f32", "alpha": 0.8}
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(index, f, indent=1)


if __name__ == "__main__":
    main()
