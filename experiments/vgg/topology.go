// Package vgg is the VGG loss network of stylelab: its topology (the convolutions of torchvision's
// vgg19().features, or vgg16().features — Net; no classifier), its weights (safetensors or PyTorch .pth files in
// the layouts users have — torchvision, Caffe-converted, AdaIN's normalised VGG-19, see Layout — or seeded random
// weights, all identified by a SHA-256 of their values), each layout's input convention, and feature extraction as
// a GoMLX graph that is differentiable on the pure-Go backend (through package nn).
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

// Convs16 lists VGG-16's 13 convolutions (blocks of 2, 2, 3, 3, 3) with torchvision's vgg16().features indices.
// Its layer names are those of VGG-19 less conv3_4, conv4_4, conv5_4 (and their ReLUs); every shared name has the
// same channels and scale in both nets.
var Convs16 = []ConvSpec{
	{"conv1_1", 0, 3, 64}, {"conv1_2", 2, 64, 64},
	{"conv2_1", 5, 64, 128}, {"conv2_2", 7, 128, 128},
	{"conv3_1", 10, 128, 256}, {"conv3_2", 12, 256, 256}, {"conv3_3", 14, 256, 256},
	{"conv4_1", 17, 256, 512}, {"conv4_2", 19, 512, 512}, {"conv4_3", 21, 512, 512},
	{"conv5_1", 24, 512, 512}, {"conv5_2", 26, 512, 512}, {"conv5_3", 28, 512, 512},
}

// Net names the loss network's topology.
type Net string

const (
	// VGG19 is torchvision's vgg19 (16 convolutions), the default ("" means VGG19).
	VGG19 Net = "vgg19"
	// VGG16 is torchvision's vgg16 (13 convolutions), the loss network of Johnson et al. and most feed-forward tools.
	VGG16 Net = "vgg16"
)

// ParseNet turns "vgg19", "vgg16" or "" (meaning vgg19) into a Net, with an error naming the valid values.
func ParseNet(s string) (Net, error) {
	switch Net(strings.ToLower(strings.TrimSpace(s))) {
	case "", VGG19:
		return VGG19, nil
	case VGG16:
		return VGG16, nil
	}
	return "", fmt.Errorf("unknown loss network %q: use --net vgg19 or --net vgg16", s)
}

// Convs returns the net's convolutions in network order.
func (n Net) Convs() []ConvSpec {
	if n == VGG16 {
		return Convs16
	}
	return Convs
}

// Layers returns the net's layer names in network order (see Layers).
func (n Net) Layers() []string {
	if n == VGG16 {
		return layers16
	}
	return Layers
}

// Title is "VGG-19" or "VGG-16".
func (n Net) Title() string {
	if n == VGG16 {
		return "VGG-16"
	}
	return "VGG-19"
}

// ValidateLayers is ValidateLayers for the net: names of VGG-19 that VGG-16 lacks (conv3_4, relu5_4, …) are errors
// naming the net.
func (n Net) ValidateLayers(names []string) error {
	if err := ValidateLayers(names); err != nil || n != VGG16 {
		return err
	}
	var bad []string
	for _, name := range names {
		if !slices.Contains(layers16, name) {
			bad = append(bad, fmt.Sprintf("%q", name))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("VGG-16 has no layer %s (it has 3 convolutions in blocks 3–5, VGG-19 has 4); its layers are %s",
		strings.Join(bad, ", "), strings.Join(layers16, " "))
}

// Layers lists every layer name of VGG-19 in network order: conv1_1, relu1_1, conv1_2, relu1_2, pool1, conv2_1,
// …, pool4, conv5_1, relu5_1, …, conv5_4, relu5_4. There is no pool5: no style-transfer layer needs it.
var Layers = buildLayers(Convs)

var layers16 = buildLayers(Convs16)

func buildLayers(convs []ConvSpec) []string {
	var out []string
	for i, c := range convs {
		out = append(out, c.Name, "relu"+strings.TrimPrefix(c.Name, "conv"))
		block := c.Name[4]
		lastOfBlock := i == len(convs)-1 || convs[i+1].Name[4] != block
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
