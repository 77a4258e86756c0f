package gatys

// Tiled evaluation of the Gatys objective (issue 18): the loss and its pixel gradient of an image of any size,
// computed tile by tile with memory set by the tile, and equal to the untiled values up to float rounding.
//
// Every term of the objective is a function of sums over positions:
//
//	Content = mean_l Σ_p (F_l − P_l)²_p / (N_l M_l)         a sum over positions p of layer l
//	TV      = Σ_p (vertical and horizontal neighbour differences at p)² / (H·W)
//	Style_l = h_l(S_l),  S_l = Σ_p φ_l(f_p)                  the style statistics of layer l
//
// with φ(f) = f fᵀ (gram; mmd-poly with degree 2 adds f), f (mmd-linear), (f, f²) (meanvar), and, for the kernel
// MMDs (mmd-gauss; mmd-poly with degree ≠ 2), the feature vectors themselves at the positions the loss uses: all
// of them where the exact form applies (M² ≤ GaussExactMax), else the K positions drawn for this step — drawn over
// the whole map exactly as the untiled run draws them (SampleDraw), then "gathered" from whichever tile holds them
// (a sum too: each tile contributes the vectors of its own positions, zero elsewhere). mmd-gauss's bandwidth also
// needs Σ f and Σ ‖f‖².
//
// The image is split into tiles of Tile×Tile interior pixels. Each tile is evaluated on its interior plus a halo
// of Halo pixels on every side (clipped at the image border, where the network's zero padding is the untiled
// one); the halo covers the receptive field of the deepest layer used (tileHalo), so the features of every
// interior position are exactly the untiled ones, and each position belongs to exactly one interior. Tile and
// Halo are multiples of the network's total pooling stride (16 up to relu5_1), so the tiles' feature grids line up
// with the image's.
//
// One evaluation of loss and gradient costs two passes over the tiles:
//
//	pass 1 (forward only): S_l = Σ_tiles S_l(tile), and the content and TV sums; then h_l(S_l) gives the loss
//	        terms, and one small graph gives G_l = ∂(StyleWeight·Σ λ_l h_l)/∂S_l at the global S_l.
//	pass 2 (forward and backward): for each tile, the gradient with respect to its padded pixels of the surrogate
//	        Σ_l ⟨G_l, S_l(tile)⟩ + ContentWeight·Content(tile) + TVWeight·TV(tile),
//	        scatter-added into the image's gradient.
//
// By the chain rule ∂Total/∂x = Σ_l G_l·∂S_l/∂x + …, and S_l is linear in the tiles' contributions, so the
// surrogate's gradient is the true one. The pixel work is one forward pass more than untiled (≈ 4/3 of an untiled
// evaluation), times the halo overhead (padded area / interior area). An Adam step is one evaluation; the last,
// forward-only report costs pass 1 alone; each L-BFGS line-search trial is one evaluation. Adam's update (the
// same formula as GoMLX's optimizers.Adam) and L-BFGS run on the whole image on the host.
//
// Spatial control is tiled for the moment losses (gram, meanvar, mmd-linear, mmd-poly of degree 2): their guided
// forms take the generated statistics under the weights a = t²/Σt² of each region's guide, which are sums too
// (Σ_p a_p φ(f_p), a computed once over the whole image); the guided kernel MMDs are refused (TiledGuided).

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX code reads best with the graph ops unqualified.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/losses"
	"github.com/stylelab/stylelab/experiments/vgg"
)

// TilePasses is the number of passes over the tiles of one loss-and-gradient evaluation (see the file comment).
const TilePasses = 2

// Tiling describes how a run was tiled: recorded with the run (Result.Tiling).
type Tiling struct {
	Tile   int `json:"tile"`   // interior tile side, pixels
	Halo   int `json:"halo"`   // halo on each side, pixels
	Align  int `json:"align"`  // the pooling stride Tile and Halo are multiples of
	Passes int `json:"passes"` // passes over the tiles per loss-and-gradient evaluation
	Tiles  int `json:"tiles"`  // tiles of the generated image (of the last scale)
}

// ParseTile reads Config.Tile: "off" → 0 (untiled), "" or "auto" → -1 (tile only what does not fit), a
// positive integer → that size.
func ParseTile(s string) (int, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "off":
		return 0, nil
	case "", "auto":
		return -1, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 {
		return 0, fmt.Errorf("tile %q: use auto, off or a tile size in pixels (a multiple of 16, e.g. 256)", s)
	}
	return n, nil
}

// tileHalo returns the halo (pixels) that makes the features of an interior position exact up to the deepest of
// layers, and the alignment (the product of the pooling strides before it). Walking the net: a 3×3 convolution
// with padding 1 at scale s moves the border effect s pixels inward, a 2×2 pooling at input scale s moves it up
// to s more; the sum is rounded up to a multiple of the alignment. VGG-19 to relu5_1: 70 + 15 = 85 → 96, align 16.
func tileHalo(net vgg.Net, layers []string) (halo, align int) {
	all := net.Layers()
	deepest := 0
	for _, l := range layers {
		deepest = max(deepest, slices.Index(all, l))
	}
	r, s := 0, 1
	for _, l := range all[:deepest+1] {
		switch {
		case strings.HasPrefix(l, "conv"):
			r += s
		case strings.HasPrefix(l, "pool"):
			r += s
			s *= 2
		}
	}
	return (r + s - 1) / s * s, s
}

// MinTile returns the smallest tile (pixels) for cfg's layers: the halo. Below it a tile's padded area exceeds 9×
// its interior and the tiled run does more than 12× the untiled work per pixel; the halo is also where the
// alignment makes the tile grid line up.
func MinTile(cfg Config, net vgg.Net) int {
	h, _ := tileHalo(net, append(slices.Clone(cfg.ContentLayers), cfg.StyleLayers...))
	return h
}

// checkTile validates a tile size for cfg's layers: a multiple of the alignment, at least the halo.
func checkTile(t int, cfg Config, net vgg.Net) error {
	halo, align := tileHalo(net, append(slices.Clone(cfg.ContentLayers), cfg.StyleLayers...))
	if t < halo {
		return fmt.Errorf("tile %d is smaller than the halo allows: the minimum tile for layers up to %s is %d px (the halo of the loss network's receptive field); use --tile %d or more",
			t, deepestLayer(net, cfg), halo, halo)
	}
	if t%align != 0 {
		lo := t / align * align
		return fmt.Errorf("tile %d is not a multiple of %d (the loss network's pooling stride): use %d or %d", t, align, lo, lo+align)
	}
	return nil
}

func deepestLayer(net vgg.Net, cfg Config) string {
	all := net.Layers()
	d := 0
	for _, l := range append(slices.Clone(cfg.ContentLayers), cfg.StyleLayers...) {
		d = max(d, slices.Index(all, l))
	}
	return all[d]
}

// tileRect is one tile: its interior [y0,y1)×[x0,x1) and its padded region [py0,py1)×[px0,px1), in pixels.
type tileRect struct{ y0, y1, x0, x1, py0, py1, px0, px1 int }

// planTiles splits an h×w image into tiles of t interior pixels (the last row and column of tiles smaller), each
// padded by halo. The padded regions all have the side t+2·halo where the image allows (padAxis): at the image's
// border the window shifts inward (more context on the inner side, the border itself exact), so the executables
// compile for at most two sizes per axis and the backend reuses one arena.
func planTiles(h, w, t, halo, align int) []tileRect {
	var out []tileRect
	for y0 := 0; y0 < h; y0 += t {
		for x0 := 0; x0 < w; x0 += t {
			r := tileRect{y0: y0, y1: min(y0+t, h), x0: x0, x1: min(x0+t, w)}
			r.py0, r.py1 = padAxis(r.y0, h, t, halo, align)
			r.px0, r.px1 = padAxis(r.x0, w, t, halo, align)
			out = append(out, r)
		}
	}
	return out
}

// padAxis returns the padded extent [p0,p1) along an axis of n pixels of the interior starting at a0: t+2·halo
// wide from a0−halo, shifted to stay inside [0,n) with p0 a multiple of align (the whole axis when it is
// shorter). The interior keeps at least halo pixels of context on each side that is not the image's border.
func padAxis(a0, n, t, halo, align int) (p0, p1 int) {
	P := t + 2*halo
	if P >= n {
		return 0, n
	}
	p0 = max(0, a0-halo)
	if p0+P > n {
		return (n - P) / align * align, n
	}
	return p0, p0 + P
}

// layerChannels returns the channel count of each layer of net.
func layerChannels(net vgg.Net) map[string]int {
	out := map[string]int{}
	c := 3
	conv := 0
	for _, l := range net.Layers() {
		if strings.HasPrefix(l, "conv") {
			c = net.Convs()[conv].Out
			conv++
		}
		out[l] = c
	}
	return out
}

// hostMap is a feature map [1,h,w,c] on the host.
type hostMap struct {
	h, w, c int
	data    []float32
}

func (m *hostMap) tensor() *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(m.data, 1, m.h, m.w, m.c)
}

// crop returns rows [y0,y1) and columns [x0,x1) as a tensor [1,y1−y0,x1−x0,c].
func (m *hostMap) crop(y0, y1, x0, x1 int) *tensors.Tensor {
	out := make([]float32, 0, (y1-y0)*(x1-x0)*m.c)
	for y := y0; y < y1; y++ {
		out = append(out, m.data[(y*m.w+x0)*m.c:(y*m.w+x1)*m.c]...)
	}
	return tensors.FromFlatDataAndDimensions(out, 1, y1-y0, x1-x0, m.c)
}

// statKind names one statistic of a style layer; see the file comment.
type statKind int

const (
	statFF     statKind = iota // Σ f fᵀ, [N,N]
	statF1                     // Σ f, [N]
	statF2                     // Σ f², [N]
	statSQ                     // Σ ‖f‖², [1]
	statGather                 // f at K positions, [K,N]
)

// statSpec is one statistic: of style layer `layer` (index in StyleLayers); for statGather, image is the style
// image whose sampled positions it gathers (−1: every position, the exact kernel form).
type statSpec struct {
	kind         statKind
	layer, image int
	region       int // 0: unguided; r+1: under region r's guide weights (spatial control)
}

// tiledProblem is the tiled counterpart of problem: targets on the host or as small variables, and the three
// executables (pass 1, pass 2, the loss of the statistics).
type tiledProblem struct {
	b     backends.Backend
	cfg   Config
	ctx   *context.Context
	w     *vgg.Weights
	net   vgg.Net
	H, W  int
	tile  int
	halo  int
	align int
	tiles []tileRect

	layers  []string // union of content and style layers
	scale   map[string]int
	chans   map[string]int
	content []*hostMap // per content layer, the content image's features
	stats   []statSpec
	exact   map[[2]int]bool // (style layer, image) → the exact kernel form (not sampled)
	k       int             // samples per map where sampled

	styleMaps  [][]*tensors.Tensor // [image][style layer]: full style features (kernel losses only)
	styleStats [][][]*tensors.Tensor
	styleM     [][]int // [image][style layer] positions of the style map

	pass1, pass2, lossExec, featExec *context.Exec
	step                             int                        // the step whose sampled positions are used
	sampled                          bool                       // some term samples positions
	onTile                           func(pass, i, n int) error // progress; an error aborts the evaluation

	// Spatial control: the regions and, per region and style layer, the guide weights a = t²/Σt² over the
	// generated image's positions (losses' guided forms: the generated statistics are taken under a).
	regions []regionTerm
	guideW  [][]*hostMap
}

// testHalo, when > 0, replaces the halo: tests only, to show that a halo short of the receptive field breaks
// exactness.
var testHalo = 0

// newTiledProblem prepares a tiled evaluation of cfg's objective for content (at the run's size) and styles.
func newTiledProblem(b backends.Backend, cfg Config, w *vgg.Weights, content *imageio.Image, styles []*imageio.Image, regions []regionTerm, tile int) (*tiledProblem, error) {
	net := w.Net
	if net == "" {
		net = vgg.VGG19
	}
	if err := checkTile(tile, cfg, net); err != nil {
		return nil, fmt.Errorf("gatys: %w", err)
	}
	p := &tiledProblem{b: b, cfg: cfg, ctx: context.New(), w: w, net: net, H: content.H, W: content.W, tile: tile,
		scale: map[string]int{}, chans: layerChannels(net), exact: map[[2]int]bool{},
		k: cfg.LossOptions.WithDefaults().GaussSamples, regions: regions}
	p.halo, p.align = tileHalo(net, append(slices.Clone(cfg.ContentLayers), cfg.StyleLayers...))
	if testHalo > 0 {
		p.halo = testHalo
	}
	p.tiles = planTiles(p.H, p.W, tile, p.halo, p.align)
	for _, l := range append(slices.Clone(cfg.ContentLayers), cfg.StyleLayers...) {
		if !slices.Contains(p.layers, l) {
			p.layers = append(p.layers, l)
		}
		s, err := vgg.LayerScale(l)
		if err != nil {
			return nil, fmt.Errorf("gatys: %w", err)
		}
		p.scale[l] = s
	}
	var err error
	p.featExec, err = context.NewExec(b, p.ctx, func(ctx *context.Context, x *Node) []*Node {
		f := vgg.Features(ctx, w, cfg.Pool, x, p.layers)
		out := make([]*Node, len(p.layers))
		for i, l := range p.layers {
			out[i] = f[l]
		}
		return out
	})
	if err != nil {
		return nil, fmt.Errorf("gatys: %w", err)
	}
	p.featExec.SetMaxCache(64)
	maps, err := p.assemble(content, cfg.ContentLayers)
	if err != nil {
		return nil, fmt.Errorf("gatys: content features: %w", err)
	}
	p.content = maps
	if err := p.planStats(styles); err != nil {
		return nil, err
	}
	if err := p.styleTargets(styles); err != nil {
		return nil, err
	}
	p.featExec.Finalize() // the targets are computed: free its compiled graphs
	p.featExec = nil
	if err := p.buildExecs(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *tiledProblem) finalize() {
	for _, e := range []*context.Exec{p.pass1, p.pass2, p.lossExec, p.featExec} {
		if e != nil {
			e.Finalize()
		}
	}
}

// Tiling returns the record of this problem's tiling.
func (p *tiledProblem) Tiling() Tiling {
	return Tiling{Tile: p.tile, Halo: p.halo, Align: p.align, Passes: TilePasses, Tiles: len(p.tiles)}
}

// layerDims returns the layer's map size for an h×w image.
func (p *tiledProblem) layerDims(l string, h, w int) (int, int) {
	return h / p.scale[l], w / p.scale[l]
}

// imageCrop returns the pixels of region [y0,y1)×[x0,x1) of im as a tensor [1,h,w,3].
func imageCrop(pix []float32, w, y0, y1, x0, x1 int) *tensors.Tensor {
	out := make([]float32, 0, (y1-y0)*(x1-x0)*3)
	for y := y0; y < y1; y++ {
		out = append(out, pix[(y*w+x0)*3:(y*w+x1)*3]...)
	}
	return tensors.FromFlatDataAndDimensions(out, 1, y1-y0, x1-x0, 3)
}

// assemble computes the features of img at layers tile by tile (img's own tiles) and returns the full maps.
func (p *tiledProblem) assemble(img *imageio.Image, layers []string) ([]*hostMap, error) {
	out := make([]*hostMap, len(layers))
	for i, l := range layers {
		h, w := p.layerDims(l, img.H, img.W)
		out[i] = &hostMap{h: h, w: w, c: p.chans[l], data: make([]float32, h*w*p.chans[l])}
	}
	for _, t := range planTiles(img.H, img.W, p.tile, p.halo, p.align) {
		res, err := p.featExec.Exec(imageCrop(img.Pix, img.W, t.py0, t.py1, t.px0, t.px1))
		if err != nil {
			return nil, err
		}
		for i, l := range layers {
			j := slices.Index(p.layers, l)
			s := p.scale[l]
			m := out[i]
			pw := (t.px1 - t.px0) / s
			iy0, iy1, ix0, ix1 := t.y0/s, min(t.y1/s, m.h), t.x0/s, min(t.x1/s, m.w)
			if t.y1 == img.H {
				iy1 = m.h
			}
			if t.x1 == img.W {
				ix1 = m.w
			}
			err := tensors.ConstFlatData(res[j], func(f []float32) {
				for y := iy0; y < iy1; y++ {
					ly := y - t.py0/s
					src := f[(ly*pw+(ix0-t.px0/s))*m.c : (ly*pw+(ix1-t.px0/s))*m.c]
					copy(m.data[(y*m.w+ix0)*m.c:], src)
				}
			})
			if err != nil {
				return nil, err
			}
		}
		for _, r := range res {
			r.FinalizeAll()
		}
	}
	return out, nil
}

// planStats chooses the statistics of every style layer (see statKind).
func (p *tiledProblem) planStats(styles []*imageio.Image) error {
	cfg := p.cfg
	o := cfg.LossOptions.WithDefaults()
	if p.regions != nil {
		return p.planGuided()
	}
	for i, l := range cfg.StyleLayers {
		h, w := p.layerDims(l, p.H, p.W)
		mF := h * w
		add := func(k statKind, img int) { p.stats = append(p.stats, statSpec{kind: k, layer: i, image: img}) }
		switch cfg.Loss {
		case "gram":
			add(statFF, 0)
		case "mmd-linear":
			add(statF1, 0)
		case "meanvar":
			add(statF1, 0)
			add(statF2, 0)
		case "mmd-poly", "mmd-gauss":
			if cfg.Loss == "mmd-poly" && o.PolyDegree == 2 {
				add(statFF, 0)
				if o.PolyC != 0 {
					add(statF1, 0)
				}
				continue
			}
			all, moments := false, false
			for k, s := range styles {
				hs, ws := p.layerDims(l, s.H, s.W)
				if losses.Sampled(cfg.Loss, o, mF, hs*ws) {
					add(statGather, k)
					p.sampled = true
					moments = moments || cfg.Loss == "mmd-gauss"
				} else {
					p.exact[[2]int{i, k}] = true
					all = true
				}
			}
			if all {
				add(statGather, -1)
			}
			if moments {
				add(statF1, 0)
				add(statSQ, 0)
			}
		default:
			return fmt.Errorf("gatys: the %s loss has no tiled form", cfg.Loss)
		}
	}
	return nil
}

// TiledGuided reports whether cfg's loss has a tiled guided form (spatial control with tiles).
func TiledGuided(cfg Config) bool {
	o := cfg.LossOptions.WithDefaults()
	switch cfg.Loss {
	case "gram", "meanvar", "mmd-linear":
		return true
	case "mmd-poly":
		return o.PolyDegree == 2
	}
	return false
}

// planGuided chooses the statistics under spatial control: each moment statistic once per region, under that
// region's guide weights (the kernel MMDs' guided forms are not tiled), and computes the weights.
func (p *tiledProblem) planGuided() error {
	cfg := p.cfg
	var kinds []statKind
	switch {
	case cfg.Loss == "gram" || (cfg.Loss == "mmd-poly" && cfg.LossOptions.WithDefaults().PolyDegree == 2):
		kinds = []statKind{statFF}
		if cfg.Loss == "mmd-poly" && cfg.LossOptions.PolyC != 0 {
			kinds = append(kinds, statF1)
		}
	case cfg.Loss == "mmd-linear":
		kinds = []statKind{statF1}
	case cfg.Loss == "meanvar":
		kinds = []statKind{statF1, statF2}
	default:
		return fmt.Errorf("gatys: the guided %s loss (spatial control) is not tiled: use --tile off, a smaller size, or gram, meanvar, mmd-linear or mmd-poly of degree 2", cfg.Loss)
	}
	for i, l := range cfg.StyleLayers {
		h, w := p.layerDims(l, p.H, p.W)
		for r := range p.regions {
			for _, k := range kinds {
				p.stats = append(p.stats, statSpec{kind: k, layer: i, region: r + 1})
			}
		}
		_ = h
		_ = w
	}
	p.guideW = make([][]*hostMap, len(p.regions))
	for r, rt := range p.regions {
		for i, l := range cfg.StyleLayers {
			h, w := p.layerDims(l, p.H, p.W)
			m := &hostMap{h: h, w: w, c: 1, data: make([]float32, h*w)}
			var sum float64
			err := tensors.ConstFlatData(rt.guide[i], func(t []float32) {
				for _, v := range t {
					sum += float64(v) * float64(v)
				}
				for j, v := range t {
					m.data[j] = float32(float64(v) * float64(v) / sum)
				}
			})
			if err != nil {
				return err
			}
			if len(m.data) != h*w {
				return fmt.Errorf("gatys: region guide of %s has the wrong size", l)
			}
			p.guideW[r] = append(p.guideW[r], m)
		}
	}
	return nil
}

// kernelLoss reports whether the loss needs the style images' full feature maps (the kernel MMDs).
func (p *tiledProblem) kernelLoss() bool {
	o := p.cfg.LossOptions.WithDefaults()
	return p.cfg.Loss == "mmd-gauss" || (p.cfg.Loss == "mmd-poly" && o.PolyDegree != 2)
}

// styleTargets computes what the loss compares against, per style image: the moment sums of its features (tiled
// over the style image) or, for the kernel MMDs, its full feature maps.
func (p *tiledProblem) styleTargets(styles []*imageio.Image) error {
	cfg := p.cfg
	for k, s := range styles {
		var ms []int
		for _, l := range cfg.StyleLayers {
			h, w := p.layerDims(l, s.H, s.W)
			ms = append(ms, h*w)
		}
		p.styleM = append(p.styleM, ms)
		if p.kernelLoss() {
			maps, err := p.assemble(s, cfg.StyleLayers)
			if err != nil {
				return fmt.Errorf("gatys: features of style image %d: %w", k+1, err)
			}
			var ts []*tensors.Tensor
			for _, m := range maps {
				ts = append(ts, m.tensor())
			}
			p.styleMaps = append(p.styleMaps, ts)
			continue
		}
		// The moment statistics of the style image: pass 1 over its own tiles, without content, TV or gathers.
		var kinds []statSpec
		for _, st := range p.stats {
			if st.kind != statGather && st.region <= 1 {
				kinds = append(kinds, st)
			}
		}
		e, err := context.NewExec(p.b, p.ctx, func(ctx *context.Context, in []*Node) []*Node {
			x := in[0]
			f := vgg.Features(ctx, p.w, cfg.Pool, x, cfg.StyleLayers)
			var out []*Node
			for _, st := range kinds {
				l := cfg.StyleLayers[st.layer]
				out = append(out, momentStat(st.kind, f[l], in[1+st.layer]))
			}
			return out
		})
		if err != nil {
			return err
		}
		sums := make([][]float64, len(kinds))
		for _, t := range planTiles(s.H, s.W, p.tile, p.halo, p.align) {
			args := []any{imageCrop(s.Pix, s.W, t.py0, t.py1, t.px0, t.px1)}
			for _, l := range cfg.StyleLayers {
				args = append(args, p.layerMask(l, t, s.H, s.W))
			}
			res, err := e.Exec(args...)
			if err != nil {
				e.Finalize()
				return fmt.Errorf("gatys: style targets of style image %d: %w", k+1, err)
			}
			if err := accumulate(sums, res); err != nil {
				e.Finalize()
				return err
			}
		}
		e.Finalize()
		byLayer := make([][]*tensors.Tensor, len(cfg.StyleLayers))
		for j, st := range kinds {
			byLayer[st.layer] = append(byLayer[st.layer], tensors.FromFlatDataAndDimensions(to32(sums[j]), p.statDims(st)...))
		}
		p.styleStats = append(p.styleStats, byLayer)
	}
	return nil
}

// statDims is the shape of a statistic.
func (p *tiledProblem) statDims(st statSpec) []int {
	n := p.chans[p.cfg.StyleLayers[st.layer]]
	switch st.kind {
	case statFF:
		return []int{n, n}
	case statF1, statF2:
		return []int{n}
	case statSQ:
		return []int{1}
	}
	return []int{p.gatherK(st), n}
}

// gatherK is the number of positions a gather statistic holds.
func (p *tiledProblem) gatherK(st statSpec) int {
	if st.image >= 0 {
		return p.k
	}
	h, w := p.layerDims(p.cfg.StyleLayers[st.layer], p.H, p.W)
	return h * w
}

// momentStat is a moment statistic of the masked features f [1,h,w,N] (mask [1,h,w,1] of 0/1).
func momentStat(kind statKind, f, mask *Node) *Node {
	d := f.Shape().Dimensions
	m := BroadcastToDims(mask, d...)
	fm := Reshape(Mul(f, m), d[1]*d[2], d[3])
	ff := Reshape(f, d[1]*d[2], d[3])
	switch kind {
	case statFF:
		return Einsum("mi,mj->ij", fm, ff)
	case statF1:
		return ReduceSum(fm, 0)
	case statF2:
		return ReduceSum(Mul(fm, ff), 0)
	case statSQ:
		return Reshape(ReduceAllSum(Mul(fm, ff)), 1)
	}
	panic("momentStat: not a moment")
}

// layerMask is the 0/1 mask [1,h,w,1] of tile t's interior positions on layer l of its padded region, for an
// imgH×imgW image.
func (p *tiledProblem) layerMask(l string, t tileRect, imgH, imgW int) *tensors.Tensor {
	s := p.scale[l]
	gh, gw := imgH/s, imgW/s
	ph, pw := (t.py1-t.py0)/s, (t.px1-t.px0)/s
	iy0, iy1, ix0, ix1 := t.y0/s, t.y1/s, t.x0/s, t.x1/s
	if t.y1 == imgH {
		iy1 = gh
	}
	if t.x1 == imgW {
		ix1 = gw
	}
	m := make([]float32, ph*pw)
	for y := iy0; y < iy1; y++ {
		for x := ix0; x < ix1; x++ {
			m[(y-t.py0/s)*pw+(x-t.px0/s)] = 1
		}
	}
	return tensors.FromFlatDataAndDimensions(m, 1, ph, pw, 1)
}

// guideCrop is region r's guide weights at style layer i on tile t's padded region, zero outside its interior.
func (p *tiledProblem) guideCrop(r, i int, l string, t tileRect) *tensors.Tensor {
	mask := p.layerMask(l, t, p.H, p.W)
	s := p.scale[l]
	g := p.guideW[r][i]
	crop := g.crop(t.py0/s, t.py0/s+(t.py1-t.py0)/s, t.px0/s, t.px0/s+(t.px1-t.px0)/s)
	var out []float32
	_ = tensors.ConstFlatData(crop, func(c []float32) {
		_ = tensors.ConstFlatData(mask, func(m []float32) {
			out = make([]float32, len(c))
			for j := range c {
				out[j] = c[j] * m[j]
			}
		})
	})
	d := mask.Shape().Dimensions
	return tensors.FromFlatDataAndDimensions(out, d...)
}

// pixelMask is the 0/1 mask of tile t's interior pixels on its padded region.
func pixelMask(t tileRect) *tensors.Tensor {
	ph, pw := t.py1-t.py0, t.px1-t.px0
	m := make([]float32, ph*pw)
	for y := t.y0; y < t.y1; y++ {
		for x := t.x0; x < t.x1; x++ {
			m[(y-t.py0)*pw+(x-t.px0)] = 1
		}
	}
	return tensors.FromFlatDataAndDimensions(m, 1, ph, pw, 1)
}

// positionsOf returns the global positions a gather statistic holds at the current step.
func (p *tiledProblem) positionsOf(st statSpec) []int32 {
	l := p.cfg.StyleLayers[st.layer]
	h, w := p.layerDims(l, p.H, p.W)
	if st.image < 0 {
		idx := make([]int32, h*w)
		for i := range idx {
			idx[i] = int32(i)
		}
		return idx
	}
	return SampleDraw(p.cfg.LossOptions.Seed, p.step, st.layer, st.image, 1, h*w, p.k)
}

// gatherSel returns, for tile t, the local flat index (in its padded layer map) of each of the positions and
// whether the tile's interior holds it: sel [K] int32, valid [K,1] float32.
func (p *tiledProblem) gatherSel(st statSpec, t tileRect, pos []int32) (*tensors.Tensor, *tensors.Tensor) {
	l := p.cfg.StyleLayers[st.layer]
	s := p.scale[l]
	gh, gw := p.layerDims(l, p.H, p.W)
	pw := (t.px1 - t.px0) / s
	iy0, iy1, ix0, ix1 := t.y0/s, t.y1/s, t.x0/s, t.x1/s
	if t.y1 == p.H {
		iy1 = gh
	}
	if t.x1 == p.W {
		ix1 = gw
	}
	sel := make([]int32, len(pos))
	valid := make([]float32, len(pos))
	for i, g := range pos {
		y, x := int(g)/gw, int(g)%gw
		if y >= iy0 && y < iy1 && x >= ix0 && x < ix1 {
			sel[i] = int32((y-t.py0/s)*pw + (x - t.px0/s))
			valid[i] = 1
		}
	}
	return tensors.FromValue(sel), tensors.FromFlatDataAndDimensions(valid, len(pos), 1)
}

// tileArgs returns the inputs of pass 1 for tile t: the padded pixels, the interior mask of every layer, the
// pixel mask, the content features of the padded region per content layer, and (sel, valid) per gather.
func (p *tiledProblem) tileArgs(pix []float32, t tileRect, pos [][]int32) []any {
	args := []any{imageCrop(pix, p.W, t.py0, t.py1, t.px0, t.px1)}
	for _, l := range p.layers {
		args = append(args, p.layerMask(l, t, p.H, p.W))
	}
	args = append(args, pixelMask(t))
	for r := range p.guideW {
		for i, l := range p.cfg.StyleLayers {
			args = append(args, p.guideCrop(r, i, l, t))
		}
	}
	for i, l := range p.cfg.ContentLayers {
		s := p.scale[l]
		args = append(args, p.content[i].crop(t.py0/s, t.py0/s+(t.py1-t.py0)/s, t.px0/s, t.px0/s+(t.px1-t.px0)/s))
	}
	for j, st := range p.stats {
		if st.kind == statGather {
			sel, valid := p.gatherSel(st, t, pos[j])
			args = append(args, sel, valid)
		}
	}
	return args
}

// tileTerms builds, on one padded tile, the statistics (in p.stats order), the content sum per content layer and
// the TV sum, from the inputs of tileArgs.
func (p *tiledProblem) tileTerms(ctx *context.Context, in []*Node) (x *Node, stats, contentSums []*Node, tvSum *Node, rest []*Node) {
	cfg := p.cfg
	x = in[0]
	i := 1
	masks := map[string]*Node{}
	for _, l := range p.layers {
		masks[l] = in[i]
		i++
	}
	pixMask := in[i]
	i++
	guides := map[[2]int]*Node{}
	for r := range p.guideW {
		for li := range cfg.StyleLayers {
			guides[[2]int{r, li}] = in[i]
			i++
		}
	}
	contentP := in[i : i+len(cfg.ContentLayers)]
	i += len(cfg.ContentLayers)
	f := vgg.Features(ctx, p.w, cfg.Pool, x, p.layers)
	for _, st := range p.stats {
		l := cfg.StyleLayers[st.layer]
		if st.kind != statGather {
			m := masks[l]
			if st.region > 0 {
				m = guides[[2]int{st.region - 1, st.layer}]
			}
			stats = append(stats, momentStat(st.kind, f[l], m))
			continue
		}
		sel, valid := in[i], in[i+1]
		i += 2
		d := f[l].Shape().Dimensions
		flat := Reshape(f[l], d[1]*d[2], d[3])
		k := sel.Shape().Dimensions[0]
		g := Gather(flat, Reshape(sel, k, 1))
		stats = append(stats, Mul(g, BroadcastToDims(valid, k, d[3])))
	}
	for j, l := range cfg.ContentLayers {
		d := f[l].Shape().Dimensions
		diff := Mul(Sub(f[l], contentP[j]), BroadcastToDims(masks[l], d...))
		contentSums = append(contentSums, Reshape(ReduceAllSum(Square(diff)), 1))
	}
	tvSum = Reshape(losses.TotalVariationSum(x, pixMask), 1)
	return x, stats, contentSums, tvSum, in[i:]
}

// buildExecs creates the executables of pass 1, pass 2 and the loss of the statistics.
func (p *tiledProblem) buildExecs() error {
	cfg := p.cfg
	var err error
	p.pass1, err = context.NewExec(p.b, p.ctx, func(ctx *context.Context, in []*Node) []*Node {
		_, stats, cs, tv, _ := p.tileTerms(ctx, in)
		return append(append(stats, cs...), tv)
	})
	if err != nil {
		return fmt.Errorf("gatys: tiled pass 1: %w", err)
	}
	p.pass2, err = context.NewExec(p.b, p.ctx, func(ctx *context.Context, in []*Node) *Node {
		x, stats, cs, tv, G := p.tileTerms(ctx, in)
		g := x.Graph()
		sur := ScalarZero(g, x.DType())
		for j, s := range stats {
			sur = Add(sur, ReduceAllSum(Mul(StopGradient(G[j]), s)))
		}
		for j, l := range cfg.ContentLayers {
			h, w := p.layerDims(l, p.H, p.W)
			norm := float64(len(cfg.ContentLayers)) * float64(h*w*p.chans[l])
			sur = Add(sur, MulScalar(Reshape(cs[j]), *cfg.ContentWeight/norm))
		}
		sur = Add(sur, MulScalar(Reshape(tv), *cfg.TVWeight/float64(p.H*p.W)))
		return Gradient(sur, x)[0]
	})
	if err != nil {
		return fmt.Errorf("gatys: tiled pass 2: %w", err)
	}
	p.pass1.SetMaxCache(64)
	p.pass2.SetMaxCache(64)
	p.lossExec, err = context.NewExec(p.b, p.ctx, func(ctx *context.Context, in []*Node) []*Node {
		return p.statLoss(ctx, in)
	})
	if err != nil {
		return fmt.Errorf("gatys: tiled loss: %w", err)
	}
	return nil
}

// statLoss builds, from the global statistics in[0:len(stats)] (and then the style positions idxS per sampled
// gather), the style loss of every layer and the gradient of StyleWeight·Style with respect to each statistic:
// outputs [byLayer_0 … byLayer_L−1, G_0 … G_S−1].
func (p *tiledProblem) statLoss(ctx *context.Context, in []*Node) []*Node {
	cfg := p.cfg
	o := cfg.LossOptions.WithDefaults()
	stats := in[:len(p.stats)]
	idxS := in[len(p.stats):]
	g := stats[0].Graph()
	dt := stats[0].DType()
	tctx := ctx.In("tiled_targets").Checked(false)
	region := 0
	find := func(layer int, kind statKind, image int) *Node {
		for j, st := range p.stats {
			if st.layer == layer && st.kind == kind && st.region == region && (kind != statGather || st.image == image) {
				return stats[j]
			}
		}
		return nil
	}
	styleStat := func(k, layer int, kind statKind) *Node {
		j := 0
		for _, st := range p.stats {
			if st.layer != layer || st.kind == statGather || st.region > 1 {
				continue
			}
			if st.kind == kind {
				name := fmt.Sprintf("style%d_%d_%d", k, layer, kind)
				v := tctx.GetVariable(name)
				if v == nil {
					v = tctx.VariableWithValue(name, p.styleStats[k][layer][j]).SetTrainable(false)
				}
				return v.ValueGraph(g)
			}
			j++
		}
		panic("statLoss: missing style statistic")
	}
	styleMap := func(k, layer int) *Node {
		return tctx.VariableWithValue(fmt.Sprintf("stylemap%d_%d", k, layer), p.styleMaps[k][layer]).SetTrainable(false).ValueGraph(g)
	}
	meanStd := func(f1, f2 *Node, m float64) (mu, sd *Node) {
		mu = DivScalar(f1, m)
		v := MaxScalar(Sub(DivScalar(f2, m), Square(mu)), 0)
		return mu, Sqrt(AddScalar(v, losses.MeanVarEpsilon))
	}
	idxPos := 0
	var byLayer []*Node
	style := ScalarZero(g, dt)
	for i, l := range cfg.StyleLayers {
		h, w := p.layerDims(l, p.H, p.W)
		mF := float64(h * w)
		n := float64(p.chans[l])
		li := ScalarZero(g, dt)
		type term struct {
			region, k int
			w, mF     float64
		}
		var terms []term
		if p.regions == nil {
			for k, wk := range cfg.StyleBlend {
				terms = append(terms, term{0, k, wk, mF})
			}
		} else {
			for r, rt := range p.regions {
				for j, k := range rt.images {
					terms = append(terms, term{r + 1, k, rt.weight * rt.blend[j], 1}) // guide weights sum to 1
				}
			}
		}
		for _, tm := range terms {
			k, wk, mF := tm.k, tm.w, tm.mF
			region = tm.region
			mS := float64(p.styleM[k][i])
			var lk *Node
			switch {
			case cfg.Loss == "gram" || (cfg.Loss == "mmd-poly" && o.PolyDegree == 2):
				d := Sub(DivScalar(find(i, statFF, 0), mF), DivScalar(styleStat(k, i, statFF), mS))
				lk = DivScalar(ReduceAllSum(Square(d)), 4*n*n)
				if cfg.Loss == "mmd-poly" && o.PolyC != 0 {
					lin := DivScalar(ReduceAllSum(Square(Sub(DivScalar(find(i, statF1, 0), mF), DivScalar(styleStat(k, i, statF1), mS)))), n)
					lk = Add(lk, MulScalar(lin, o.PolyC/(2*n)))
				}
			case cfg.Loss == "mmd-linear":
				lk = DivScalar(ReduceAllSum(Square(Sub(DivScalar(find(i, statF1, 0), mF), DivScalar(styleStat(k, i, statF1), mS)))), n)
			case cfg.Loss == "meanvar":
				mu, sd := meanStd(find(i, statF1, 0), find(i, statF2, 0), mF)
				muS, sdS := meanStd(styleStat(k, i, statF1), styleStat(k, i, statF2), mS)
				lk = ReduceAllMean(Add(Square(Sub(mu, muS)), Square(Sub(sd, sdS))))
			case p.exact[[2]int{i, k}]:
				all := find(i, statGather, -1)
				lk = p.exactLoss(all, styleMap(k, i))
			default: // sampled kernel MMD
				fK := find(i, statGather, k)
				idx := idxS[idxPos]
				idxPos++
				S := styleMap(k, i)
				sd := S.Shape().Dimensions
				sFlat := Reshape(S, sd[1]*sd[2], sd[3])
				kk := idx.Shape().Dimensions[0]
				sK := Gather(sFlat, Reshape(idx, kk, 1))
				if cfg.Loss == "mmd-gauss" {
					muF := DivScalar(find(i, statF1, 0), mF)
					sqF := DivScalar(find(i, statSQ, 0), mF)
					muS := ReduceMean(sFlat, 0)
					sqS := ReduceAllMean(ReduceSum(Square(sFlat), 1))
					bw := losses.GaussBandwidthFromMoments(sqF, muF, sqS, muS)
					lk = losses.MMDGaussSampledGathered(InsertAxes(fK, 0), InsertAxes(sK, 0), bw)
				} else {
					K := fK.Shape().Dimensions[0]
					iota := Iota(g, shapesInt32(K), 0)
					lk = losses.MMDPolySampled(Reshape(fK, 1, 1, K, int(n)), Reshape(sK, 1, 1, kk, int(n)), iota, Iota(g, shapesInt32(kk), 0), o.PolyDegree, o.PolyC)
				}
			}
			if wk != 0 {
				li = Add(li, MulScalar(lk, wk))
			}
		}
		byLayer = append(byLayer, Reshape(li, 1))
		if lw := cfg.layerWeight(l); lw != 0 {
			style = Add(style, MulScalar(li, lw))
		}
	}
	grads := Gradient(MulScalar(style, *cfg.StyleWeight), stats...)
	return append(byLayer, grads...)
}

// exactLoss is the exact kernel form on all generated positions all [M,N] against the style map S.
func (p *tiledProblem) exactLoss(all, S *Node) *Node {
	loss, err := losses.StyleAt(p.cfg.Loss, p.cfg.LossOptions)
	if err != nil {
		panic(err)
	}
	d := all.Shape().Dimensions
	return loss(Reshape(all, 1, 1, d[0], d[1]), S, nil, nil)
}

// eval returns the terms vector [total, content, style, tv, styleByLayer...] of the image pix (H×W×3) and, when
// grad is true, the gradient of the total with respect to pix.
func (p *tiledProblem) eval(pix []float32, grad bool) ([]float32, []float32, error) {
	cfg := p.cfg
	pos := make([][]int32, len(p.stats))
	var idxS []any
	for j, st := range p.stats {
		if st.kind == statGather {
			pos[j] = p.positionsOf(st)
			if st.image >= 0 {
				l := cfg.StyleLayers[st.layer]
				_ = l
				idxS = append(idxS, tensors.FromValue(SampleDraw(cfg.LossOptions.Seed, p.step, st.layer, st.image, 2, p.styleM[st.image][st.layer], p.k)))
			}
		}
	}
	// Pass 1.
	nOut := len(p.stats) + len(cfg.ContentLayers) + 1
	sums := make([][]float64, nOut)
	args := make([][]any, len(p.tiles))
	for ti, t := range p.tiles {
		if p.onTile != nil {
			if err := p.onTile(1, ti, len(p.tiles)); err != nil {
				return nil, nil, err
			}
		}
		args[ti] = p.tileArgs(pix, t, pos)
		res, err := p.pass1.Exec(args[ti]...)
		if err != nil {
			return nil, nil, fmt.Errorf("tiled pass 1, tile %d: %w", ti+1, err)
		}
		if err := accumulate(sums, res); err != nil {
			return nil, nil, err
		}
		if grad {
			continue
		}
		args[ti] = nil
	}
	// The loss of the statistics and its gradient.
	lin := make([]any, 0, len(p.stats)+len(idxS))
	for j, st := range p.stats {
		lin = append(lin, tensors.FromFlatDataAndDimensions(to32(sums[j]), p.statDims(st)...))
	}
	lin = append(lin, idxS...)
	lres, err := p.lossExec.Exec(lin...)
	if err != nil {
		return nil, nil, fmt.Errorf("tiled style loss: %w", err)
	}
	nl := len(cfg.StyleLayers)
	vec := make([]float32, 4+nl)
	content := 0.0
	for j, l := range cfg.ContentLayers {
		h, w := p.layerDims(l, p.H, p.W)
		content += sums[len(p.stats)+j][0] / float64(h*w*p.chans[l])
	}
	content /= float64(len(cfg.ContentLayers))
	tv := sums[nOut-1][0] / float64(p.H*p.W)
	style := 0.0
	for i, l := range cfg.StyleLayers {
		v, err := flat32(lres[i])
		if err != nil {
			return nil, nil, err
		}
		vec[4+i] = v[0]
		style += float64(v[0]) * cfg.layerWeight(l)
	}
	vec[1], vec[2], vec[3] = float32(content), float32(style), float32(tv)
	vec[0] = float32(*cfg.ContentWeight*content + *cfg.StyleWeight*style + *cfg.TVWeight*tv)
	if !grad {
		for _, t := range lres[nl:] {
			t.FinalizeAll()
		}
		return vec, nil, nil
	}
	// Pass 2.
	G := lres[nl:]
	gradPix := make([]float32, len(pix))
	for ti, t := range p.tiles {
		if p.onTile != nil {
			if err := p.onTile(2, ti, len(p.tiles)); err != nil {
				return nil, nil, err
			}
		}
		a := append(args[ti], anySlice(G)...)
		res, err := p.pass2.Exec(a...)
		if err != nil {
			return nil, nil, fmt.Errorf("tiled pass 2, tile %d: %w", ti+1, err)
		}
		pw := t.px1 - t.px0
		err = tensors.ConstFlatData(res[0], func(g []float32) {
			for y := t.py0; y < t.py1; y++ {
				row := g[(y-t.py0)*pw*3 : (y-t.py0+1)*pw*3]
				dst := gradPix[(y*p.W+t.px0)*3:]
				for i, v := range row {
					dst[i] += v
				}
			}
		})
		res[0].FinalizeAll()
		if err != nil {
			return nil, nil, err
		}
		args[ti] = nil
	}
	for _, t := range G {
		t.FinalizeAll()
	}
	return vec, gradPix, nil
}

func anySlice(ts []*tensors.Tensor) []any {
	out := make([]any, len(ts))
	for i, t := range ts {
		out[i] = t
	}
	return out
}

// accumulate adds each result tensor into sums (float64), and frees the tensors.
func accumulate(sums [][]float64, res []*tensors.Tensor) error {
	for j, r := range res {
		err := tensors.ConstFlatData(r, func(f []float32) {
			if sums[j] == nil {
				sums[j] = make([]float64, len(f))
			}
			for i, v := range f {
				sums[j][i] += float64(v)
			}
		})
		r.FinalizeAll()
		if err != nil {
			return err
		}
	}
	return nil
}

func to32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// hostAdam is GoMLX's optimizers.Adam (β1 0.9, β2 0.999, ε 1e-7, bias-corrected), on the host, followed by the
// run's projection onto [0,1]:
//
//	m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²;  x ← clamp(x − lr·(m/(1−β1ᵗ)) / (sqrt(v/(1−β2ᵗ)) + ε), 0, 1)
type hostAdam struct {
	lr   float32
	m, v []float32
	t    int
}

// step updates x in place with gradient g and returns the sum of the unclamped new values.
func (a *hostAdam) step(x, g []float32) float64 {
	const b1, b2, eps = float32(0.9), float32(0.999), float32(1e-7)
	if a.m == nil {
		a.m, a.v = make([]float32, len(x)), make([]float32, len(x))
	}
	a.t++
	d1 := 1 / (1 - float32(math.Pow(float64(b1), float64(a.t))))
	d2 := 1 / (1 - float32(math.Pow(float64(b2), float64(a.t))))
	sum := 0.0
	for i := range x {
		a.m[i] = b1*a.m[i] + (1-b1)*g[i]
		a.v[i] = b2*a.v[i] + (1-b2)*g[i]*g[i]
		u := x[i] - a.lr*(a.m[i]*d1)/(float32(math.Sqrt(float64(a.v[i]*d2)))+eps)
		sum += float64(u)
		x[i] = min(1, max(0, u))
	}
	return sum
}

func shapesInt32(k int) shapes.Shape { return shapes.Make(dtypes.Int32, k) }

func shapesF32(dims ...int) shapes.Shape { return shapes.Make(dtypes.Float32, dims...) }
