package gatys_test

import (
	"fmt"
	"math"

	"github.com/stylelab/stylelab/experiments/gatys"
	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/losses"
	"github.com/stylelab/stylelab/experiments/vgg"
)

// Measure an image: score the content photograph itself against a painting under every style loss, with a
// seeded random VGG-19 (give vgg.Load a weights file for research-grade numbers). The photograph's content loss
// against itself is 0, and the Gram loss equals mmd-poly (degree 2, c = 0) up to float rounding, the identity of
// Li et al.'s "Demystifying Neural Style Transfer".
func ExampleMeasure() {
	content, err := imageio.Load("../../images/content/chelsea.jpg", 48)
	if err != nil {
		fmt.Println(err)
		return
	}
	style, err := imageio.Load("../../images/style/vangogh_starry_night.jpg", 48)
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := gatys.Measure(content, content, style, vgg.Random(0), vgg.PoolAvg, losses.DefaultOptions())
	if err != nil {
		fmt.Println(err)
		return
	}
	gram, poly := s.Style["gram"]["total"], s.Style["mmd-poly"]["total"]
	fmt.Println("content loss of the photograph against itself:", s.Content["total"])
	fmt.Println("gram = mmd-poly to 1e-4:", math.Abs(gram-poly) <= 1e-4*math.Abs(gram))
	fmt.Println("style losses measured:", len(s.Style))
	// Output:
	// content loss of the photograph against itself: 0
	// gram = mmd-poly to 1e-4: true
	// style losses measured: 5
}
