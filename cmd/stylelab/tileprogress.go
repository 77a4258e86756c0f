package main

import (
	"fmt"
	"time"

	"github.com/stylelab/stylelab/experiments/gatys"
)

// tileLineEvery is the least time between two tile progress lines on stderr.
const tileLineEvery = 5 * time.Second

// tile shows the progress within a tiled step: "scale 2048 step 3/10 pass 2 tile 5/16, ETA 4m10s (this scale)",
// in the bar's description, or as a line on stderr at most every tileLineEvery.
func (p *runProgress) tile(t gatys.TileReport) {
	msg := fmt.Sprintf("scale %d step %d/%d pass %d tile %d/%d", t.Size, t.Step, t.Steps, t.Pass, t.Tile, t.Tiles)
	if t.ETA > 0 {
		msg += fmt.Sprintf(", ETA %s (this scale)", t.ETA.Round(time.Second))
	}
	if p.bar != nil {
		p.bar.Describe(msg)
		return
	}
	if time.Since(p.lastTile) < tileLineEvery {
		return
	}
	p.lastTile = time.Now()
	fmt.Fprintln(p.stderr, msg)
}
