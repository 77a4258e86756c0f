package bench

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"

	"github.com/nlpodyssey/safetensors"
	"github.com/stylelab/stylelab/experiments/gatys"
	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/vgg"
)

// CheckSteps is the number of Adam steps ExportCheck records.
const CheckSteps = 2

// CheckFile is expected.json of ExportCheck: the problem and stylelab's loss terms at every step.
type CheckFile struct {
	Size    int                `json:"size"`
	Config  gatys.Config       `json:"config"`
	Backend string             `json:"backend"`
	Weights string             `json:"weights"` // vgg.Weights.Source
	SHA256  string             `json:"weights_sha256"`
	Steps   []gatys.StepReport `json:"steps"` // steps 0…CheckSteps: loss terms of the image before each update
}

// ExportCheck writes what a peer needs to verify that it computes the same losses as stylelab, into dir:
//
//	weights.safetensors  the loss network w (nil: vgg.Random(0)) in torchvision layout (vgg.WriteSafetensors)
//	inputs.safetensors   "content", "style", "init": float32 [1,size,size,3] images in [0,1] (NHWC, RGB)
//	expected.json        CheckFile: Config(size, "adam", CheckSteps) with a seeded noise init (seed 1), and the
//	                     loss terms (total, content, style, tv, style per layer) of steps 0…CheckSteps
//
// Step 0's terms check the forward maths (network, normalisation, losses, weights); steps 1 and 2 also check the
// gradient and the Adam update with its clamp to [0,1] (Adam's first steps move every pixel by about the learning
// rate in the direction of −sign(gradient), so a wrong gradient shows in the losses that follow).
func ExportCheck(dir string, size int, w *vgg.Weights) (*CheckFile, error) {
	if err := (Setup{Size: size, Steps: 1}).Validate(); err != nil {
		return nil, err
	}
	if w == nil {
		w = vgg.Random(0)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	content, style := Images(size)
	cfg := Config(size, "adam", CheckSteps)
	cfg.Init, cfg.Seed = "noise", 1
	var steps []gatys.StepReport
	res, err := gatys.Run(cfg, content, []*imageio.Image{style}, w, func(r gatys.StepReport) error {
		steps = append(steps, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The init image, built by the function gatys.Run uses (Run does not return it).
	init, err := gatys.InitialImage(res.Config, content, []*imageio.Image{style})
	if err != nil {
		return nil, err
	}
	if err := vgg.WriteSafetensors(filepath.Join(dir, "weights.safetensors"), w); err != nil {
		return nil, err
	}
	views := map[string]f32View{}
	for name, im := range map[string]*imageio.Image{"content": content, "style": style, "init": init} {
		views[name] = f32View{shape: []uint64{1, uint64(im.H), uint64(im.W), 3}, data: float32Bytes(im.Pix)}
	}
	f, err := os.Create(filepath.Join(dir, "inputs.safetensors"))
	if err != nil {
		return nil, err
	}
	if err := safetensors.SerializeToWriter(views, map[string]string{"layout": "NHWC RGB [0,1]"}, f); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	out := &CheckFile{Size: size, Config: res.Config, Backend: res.Backend.String(), Weights: w.Source, SHA256: w.SHA256, Steps: steps}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, err
	}
	return out, os.WriteFile(filepath.Join(dir, "expected.json"), data, 0o644)
}

type f32View struct {
	shape []uint64
	data  []byte
}

func (v f32View) DType() safetensors.DType { return safetensors.F32 }
func (v f32View) Shape() []uint64          { return v.shape }
func (v f32View) Data() []byte             { return v.data }
func (v f32View) DataLen() uint64          { return uint64(len(v.data)) }

func float32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}
