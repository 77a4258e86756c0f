// Package nn holds the neural-network layers stylelab needs, written with GoMLX graph ops whose gradients work
// on the backend the graph is built for: stylelab's CPU backend ("cpu"), XLA, and GoMLX's pure-Go backend
// (simplego).
//
// Why this package exists: on GoMLX v0.26.0 the pure-Go backend cannot differentiate graph.Convolve
// (its input gradient needs the op Reverse), MaxPool (SelectAndScatterMax), MeanPool or Slice (both need
// Pad), and Rsqrt has no gradient on any backend. The layers are therefore built from Gather,
// Concatenate, Reshape, BroadcastToDims, DotGeneral, reductions and element-wise arithmetic, whose stock
// gradients work everywhere — except Conv2D, which on the "cpu" and "xla" backends is one ConvGeneral op with
// ConvVJP as its gradient (conv_vjp.go; ConvGeneral ops too, which both backends run) and im2col elsewhere.
//
// Layout: images and feature maps are NHWC [B,H,W,C] with B ≥ 1; convolution kernels are HWIO
// [KH,KW,Cin,Cout]. Every layer is dtype-generic (float32 in production, float64 in the gradient tests).
//
// Importing this package replaces GoMLX's gradient of DotGeneral (see dotgeneral_vjp.go) with one that
// needs no outer-product intermediate: for an im2col convolution the stock gradient materialises a tensor
// of size M·K·N (hundreds of MB for one VGG layer); the replacement uses two DotGenerals of the usual
// size, each in the operand's own layout (no transpose), and a single product for a Gram matrix xᵀx. It also
// replaces the gradient of Max against a scalar constant (ReLU) with one compare-and-select (max_vjp.go)
// instead of GoMLX's Sign/Add/Sign/Mul chain. The replacements compute the same values.
package nn
