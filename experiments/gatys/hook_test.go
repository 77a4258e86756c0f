package gatys

import (
	"math"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // as in run.go
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// testPoisonStep, when ≥ 0, makes the loss of the image of that step NaN (poisonHook adds a NaN input to the
// image inside the graph); −1 leaves the graph as production builds it.
var testPoisonStep = -1

// poisonHook is the tests' lossHook: with testPoisonStep ≥ 0 (when the problem is made) it adds the scalar
// variable /testhook/poison to the image, 0 except at step testPoisonStep, where it is NaN.
type poisonHook struct{}

func init() { testLossHook = poisonHook{} }

const poisonScope, poisonName = "/testhook", "poison"

func (poisonHook) prepare(ctx *context.Context) {
	if testPoisonStep >= 0 {
		ctx.In("testhook").Checked(false).VariableWithValue(poisonName, float32(0)).SetTrainable(false)
	}
}

func (poisonHook) input(ctx *context.Context, x *Node) *Node {
	v := ctx.InspectVariable(poisonScope, poisonName)
	if v == nil {
		return x
	}
	return Add(x, BroadcastToShape(v.ValueGraph(x.Graph()), x.Shape()))
}

func (poisonHook) atStep(ctx *context.Context, step int) {
	v := ctx.InspectVariable(poisonScope, poisonName)
	if v == nil {
		return
	}
	val := float32(0)
	if step == testPoisonStep {
		val = float32(math.NaN())
	}
	v.MustSetValue(tensors.FromScalar(val))
}
