package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stylelab/stylelab/experiments/train"
	"github.com/stylelab/stylelab/tracker"
)

// A `stylelab train` that receives SIGINT or SIGTERM stops at the next step boundary: within 2 s it has written a
// checkpoint of its last step (Adam state included) to --out and as the run's model.safetensors, marked the run
// KILLED with the reason, and exited 130 or 143; --resume from that checkpoint continues at the next step. A
// `stylelab rerun` of the killed training run stops the same way.
func TestTrainSignalledKeepsAResumableCheckpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: trains a network in subprocesses")
	}
	styles := "../../images/style/vangogh_starry_night.jpg,../../images/style/hokusai_great_wave.jpg"
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			db, ckpt := filepath.Join(dir, "runs.db"), filepath.Join(dir, "cin.safetensors")
			args := []string{"train", "--preset", "tiny", "--kind", "cin", "--styles", styles, "--content-dir", "../../images/content",
				"--sample-every", "0", "--db", db}
			took, _ := signalAtStep20(t, exec.Command(stylelabBin, append(args, "--steps", "200", "--out", ckpt)...), sig)
			st, err := tracker.Open(db)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			r, _ := killedRun(t, st, "", sig, "")
			total, err := st.History(r.ID, "total")
			if err != nil || len(total) < 20 {
				t.Fatalf("%d steps logged (%v), want ≥ 20", len(total), err)
			}
			lastStep := int(total[len(total)-1].Step)
			ck, err := train.LoadCheckpoint(ckpt)
			if err != nil {
				t.Fatalf("the interrupted run's checkpoint does not load: %v", err)
			}
			if ck.Header.Step != lastStep || !ck.Header.AdamState {
				t.Fatalf("checkpoint at step %d (Adam state %v), the run's last recorded step is %d", ck.Header.Step, ck.Header.AdamState, lastStep)
			}
			a, err := st.FindArtifact(r.ID, "model.safetensors")
			if err != nil {
				t.Fatalf("the interrupted run kept no model.safetensors: %v", err)
			}
			if stored, err := st.ReadArtifact(a.SHA256); err != nil || !bytes.Equal(stored, mustReadFile(t, ckpt)) {
				t.Fatalf("model.safetensors differs from --out (%v)", err)
			}
			t.Logf("%v: stopped in %v at step %d: %s", sig, took.Round(time.Millisecond), lastStep, r.Error)

			// Resume: the next run starts at lastStep+1 and finishes.
			res := runStylelab(t, nil, append(args, "--steps", strconv.Itoa(lastStep+2), "--resume", ckpt, "--out", filepath.Join(dir, "resumed.safetensors"), "--json")...)
			if res.code != 0 {
				t.Fatalf("--resume: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
			}
			var o struct {
				RunID string `json:"run_id"`
			}
			if err := json.Unmarshal([]byte(res.stdout), &o); err != nil {
				t.Fatal(err)
			}
			rt, err := st.History(o.RunID, "total")
			if err != nil || len(rt) != 2 || int(rt[0].Step) != lastStep+1 {
				t.Fatalf("resumed run logged %v (%v), want steps %d and %d", rt, err, lastStep+1, lastStep+2)
			}

			// A rerun of the killed training run is interrupted the same way.
			took, log := signalAtStep20(t, exec.Command(stylelabBin, "rerun", r.ID, "--db", db), sig)
			rr, _ := killedRun(t, st, "tags.`rerun.of` = '"+r.ID+"'", sig, log)
			if _, err := st.FindArtifact(rr.ID, "model.safetensors"); err != nil {
				t.Fatalf("the interrupted rerun kept no model.safetensors: %v", err)
			}
			t.Logf("rerun, %v: stopped in %v: %s", sig, took.Round(time.Millisecond), rr.Error)
		})
	}
}
