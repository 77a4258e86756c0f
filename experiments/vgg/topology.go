// Package vgg is the VGG-19 loss network of stylelab: its topology (the 16 convolutions of torchvision's
// vgg19().features, no classifier), its weights (a torchvision safetensors export, or seeded random weights,
// both identified by a SHA-256 of their values), torchvision's input normalisation, and feature extraction
// as a GoMLX graph that is differentiable on the pure-Go backend (through package nn).
package vgg

import (
	"fmt"
	"slices"
	"strings"
)

// ConvSpec describes one 3×3, padding-1, stride-1 convolution of VGG-19.
type ConvSpec struct {
	Name       string // "conv1_1" … "conv5_4"
	TorchIndex int    // N in torchvision's "features.N.weight"
	In, Out    int    // input and output channels
}

// Convs lists VGG-19's 16 convolutions in network order, with torchvision's module indices.
var Convs = []ConvSpec{
	{"conv1_1", 0, 3, 64}, {"conv1_2", 2, 64, 64},
	{"conv2_1", 5, 64, 128}, {"conv2_2", 7, 128, 128},
	{"conv3_1", 10, 128, 256}, {"conv3_2", 12, 256, 256}, {"conv3_3", 14, 256, 256}, {"conv3_4", 16, 256, 256},
	{"conv4_1", 19, 256, 512}, {"conv4_2", 21, 512, 512}, {"conv4_3", 23, 512, 512}, {"conv4_4", 25, 512, 512},
	{"conv5_1", 28, 512, 512}, {"conv5_2", 30, 512, 512}, {"conv5_3", 32, 512, 512}, {"conv5_4", 34, 512, 512},
}

// Layers lists every layer name in network order: conv1_1, relu1_1, conv1_2, relu1_2, pool1, conv2_1, …,
// pool4, conv5_1, relu5_1, …, conv5_4, relu5_4. There is no pool5: no style-transfer layer needs it.
var Layers = buildLayers()

func buildLayers() []string {
	var out []string
	for i, c := range Convs {
		out = append(out, c.Name, "relu"+strings.TrimPrefix(c.Name, "conv"))
		block := c.Name[4]
		lastOfBlock := i == len(Convs)-1 || Convs[i+1].Name[4] != block
		if lastOfBlock && block != '5' {
			out = append(out, "pool"+string(block))
		}
	}
	return out
}

// LayerIndex returns the position of name in Layers, or -1.
func LayerIndex(name string) int { return slices.Index(Layers, name) }

// ValidateLayers returns an error naming every unknown layer and listing the valid ones; nil if all are
// known. An empty list is valid.
func ValidateLayers(names []string) error {
	var bad []string
	for _, n := range names {
		if LayerIndex(n) < 0 {
			bad = append(bad, fmt.Sprintf("%q", n))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("unknown VGG-19 layer %s; valid layers are %s", strings.Join(bad, ", "), strings.Join(Layers, " "))
}

// LayerChannels returns the number of channels of a layer's output (3 is never returned: every layer
// follows a convolution). It returns an error for unknown names.
func LayerChannels(name string) (int, error) {
	i := LayerIndex(name)
	if i < 0 {
		return 0, ValidateLayers([]string{name})
	}
	c := 0
	for _, l := range Layers[:i+1] {
		if k := slices.IndexFunc(Convs, func(s ConvSpec) bool { return s.Name == l }); k >= 0 {
			c = Convs[k].Out
		}
	}
	return c, nil
}

// LayerScale returns the downsampling factor of a layer's output relative to the input: 2^(number of
// pools before or at it). A layer of an H×W image is ⌊…⌊H/2⌋…/2⌋ pixels high (pooling floors odd sizes).
func LayerScale(name string) (int, error) {
	i := LayerIndex(name)
	if i < 0 {
		return 0, ValidateLayers([]string{name})
	}
	s := 1
	for _, l := range Layers[:i+1] {
		if strings.HasPrefix(l, "pool") {
			s *= 2
		}
	}
	return s, nil
}

// Pool selects the pooling of the loss network.
type Pool string

const (
	// PoolAvg is 2×2 average pooling, which Gatys et al. found gives better-looking synthesis. The default.
	PoolAvg Pool = "avg"
	// PoolMax is 2×2 max pooling, as in the trained VGG-19.
	PoolMax Pool = "max"
)

// ParsePool turns "avg", "max" or "" (meaning avg) into a Pool, with an error naming the valid values.
func ParsePool(s string) (Pool, error) {
	switch Pool(strings.ToLower(strings.TrimSpace(s))) {
	case "", PoolAvg:
		return PoolAvg, nil
	case PoolMax:
		return PoolMax, nil
	}
	return "", fmt.Errorf("unknown pooling %q: use \"avg\" or \"max\"", s)
}
