package cpubackend

import (
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
)

func TestSmoke(t *testing.T) {
	b, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	e := graph.MustNewExec(b, func(x *graph.Node) *graph.Node { return graph.ReduceAllSum(graph.Mul(x, x)) })
	out := e.MustExec([]float32{1, 2, 3})[0]
	if out.Value().(float32) != 14 {
		t.Fatal(out)
	}
	e2 := graph.MustNewExec(b, func(x *graph.Node) *graph.Node {
		return graph.Gradient(graph.ReduceAllSum(graph.MatMul(x, graph.Transpose(x, 0, 1))), x)[0]
	})
	out = e2.MustExec([][]float32{{1, 2}, {3, 4}})[0]
	t.Log(out)
}
