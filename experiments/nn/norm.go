package nn

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"
)

// ChannelMeanStd returns the per-image, per-channel mean and standard deviation over the spatial axes,
// both shaped [B,1,1,C]:
//
//	μ[b,c] = (1/HW) Σ_{i,j} x[b,i,j,c],   σ[b,c] = √( (1/HW) Σ_{i,j} (x[b,i,j,c] − μ[b,c])² + eps ).
//
// The variance is the biased one (divided by HW). σ uses Sqrt, not Rsqrt, because Rsqrt has no gradient
// in GoMLX. eps > 0 keeps the gradient finite on constant channels.
func ChannelMeanStd(x *graph.Node, eps float64) (mean, std *graph.Node) {
	checkNHWC("ChannelMeanStd", x)
	mean = graph.ReduceAndKeep(x, graph.ReduceMean, 1, 2)
	d := graph.Sub(x, mean)
	variance := graph.ReduceAndKeep(graph.Mul(d, d), graph.ReduceMean, 1, 2)
	std = graph.Sqrt(graph.AddScalar(variance, eps))
	return mean, std
}

// InstanceNorm normalises every image and channel over its spatial axes (Ulyanov et al.):
//
//	y[b,i,j,c] = (x[b,i,j,c] − μ[b,c]) / √(σ²[b,c] + eps)
//
// with μ, σ² the mean and biased variance over (i, j) (see ChannelMeanStd). The usual eps is 1e-5.
// x is NHWC; y has x's shape. No affine parameters (see ConditionalInstanceNorm).
func InstanceNorm(x *graph.Node, eps float64) *graph.Node {
	mean, std := ChannelMeanStd(x, eps)
	return graph.Div(graph.Sub(x, mean), std)
}

// ConditionalInstanceNorm is instance normalisation with a per-style affine transform (Dumoulin et al.),
// mixed by style weights:
//
//	γ̂[b,c] = Σ_s w[b,s] γ[s,c],   β̂[b,c] = Σ_s w[b,s] β[s,c],
//	y[b,i,j,c] = γ̂[b,c] · InstanceNorm(x, eps)[b,i,j,c] + β̂[b,c].
//
// x is NHWC [B,H,W,C]; gamma and beta are [S,C] (S styles); styleWeights is [B,S] — a one-hot row picks one
// style, other rows interpolate (the weights are used as given, not normalised, as in magenta).
func ConditionalInstanceNorm(x, gamma, beta, styleWeights *graph.Node, eps float64) *graph.Node {
	b, _, _, c := checkNHWC("ConditionalInstanceNorm", x)
	if gamma.Rank() != 2 || gamma.Shape().Dimensions[1] != c || !gamma.Shape().Equal(beta.Shape()) {
		panic(fmt.Sprintf("nn.ConditionalInstanceNorm: gamma and beta must both be [S,%d] for input %s, got %s and %s",
			c, x.Shape(), gamma.Shape(), beta.Shape()))
	}
	s := gamma.Shape().Dimensions[0]
	if styleWeights.Rank() != 2 || styleWeights.Shape().Dimensions[0] != b || styleWeights.Shape().Dimensions[1] != s {
		panic(fmt.Sprintf("nn.ConditionalInstanceNorm: styleWeights must be [B=%d,S=%d], got %s", b, s, styleWeights.Shape()))
	}
	g := graph.DotGeneral(styleWeights, []int{1}, nil, gamma, []int{0}, nil) // [B,C]
	bt := graph.DotGeneral(styleWeights, []int{1}, nil, beta, []int{0}, nil) // [B,C]
	y := InstanceNorm(x, eps)
	return graph.Add(graph.Mul(y, graph.Reshape(g, b, 1, 1, c)), graph.Reshape(bt, b, 1, 1, c))
}

// AdaIN is adaptive instance normalisation (Huang & Belongie): it gives x the per-channel statistics of y,
//
//	AdaIN(x, y)[b,i,j,c] = σ_y[b,c] · (x[b,i,j,c] − μ_x[b,c]) / σ_x[b,c] + μ_y[b,c],
//
// with μ, σ from ChannelMeanStd(·, eps) (σ includes eps under the square root). x is [B,H,W,C], y is
// [B,H',W',C] (spatial sizes may differ; batch and channels must match).
func AdaIN(x, y *graph.Node, eps float64) *graph.Node {
	bx, _, _, cx := checkNHWC("AdaIN", x)
	by, _, _, cy := checkNHWC("AdaIN", y)
	if bx != by || cx != cy {
		panic(fmt.Sprintf("nn.AdaIN: content %s and style %s must have the same batch and channels", x.Shape(), y.Shape()))
	}
	mx, sx := ChannelMeanStd(x, eps)
	my, sy := ChannelMeanStd(y, eps)
	return graph.Add(graph.Mul(sy, graph.Div(graph.Sub(x, mx), sx)), my)
}

// ReLU returns max(x, 0) element-wise. At x = 0 GoMLX's gradient is 1.
func ReLU(x *graph.Node) *graph.Node {
	return graph.MaxScalar(x, 0.0)
}
