#!/bin/sh
# Records tiny runs of every kind with the stylelab of main at a2b80c1 (before the run shell): the test data of
# cmd/stylelab's TestRerunOfRunsRecordedBeforeTheShell. Pure-Go backend (GOMLX_BACKEND=go), seeded random VGG.
set -e
cd "${1:?usage: record.sh DIR (a copy of the repository layout: DIR/images, DIR/cmd/stylelab)}/cmd/stylelab"
unset STYLELAB_VGG_WEIGHTS STYLELAB_ARTIFACTS
export GOMLX_BACKEND=go
B=${STYLELAB_OLD:-/tmp/stylelab-old} # go build -o /tmp/stylelab-old ./cmd/stylelab in a checkout of a2b80c1
D=testdata/before
rm -rf $D; mkdir -p $D
C=../../images/content/chelsea.jpg
S1=../../images/style/vangogh_starry_night.jpg
S2=../../images/style/munch_scream.jpg
$B run --content $C --style $S1 --size 32 --steps 3 --style-layers relu1_1,relu2_1 --content-layers relu2_1 --experiment before --name adam-gram --out /tmp/stylelab-before-out/adam.png --db $D/stylelab.db
$B run --content $C --style $S1,$S2 --loss meanvar --optimizer lbfgs --size 32 --steps 2 --style-layers relu1_1,relu2_1 --content-layers relu2_1 --experiment before --name lbfgs-meanvar --out /tmp/stylelab-before-out/lbfgs.png --db $D/stylelab.db
$B train --preset tiny --kind cin --styles $S1,$S2 --content-dir ../../images/content --steps 2 --seed 5 --experiment before --out $D/cin.safetensors --db $D/stylelab.db
$B stylize --model $D/cin.safetensors --content $C --size 32 --style 1 --experiment before --out /tmp/stylelab-before-out/stylize.png --db $D/stylelab.db
$B interpolate --model $D/cin.safetensors --content $C --size 32 --styles 0,1 --steps 2 --experiment before --out /tmp/stylelab-before-out/strip.png --db $D/stylelab.db
$B train --preset tiny --kind adain --styles $S1,$S2 --content-dir ../../images/content --steps 2 --seed 5 --experiment before --out $D/adain.safetensors --db $D/stylelab.db
$B adain --model $D/adain.safetensors --content $C --style ../../images/style/hokusai_great_wave.jpg --size 32 --experiment before --out /tmp/stylelab-before-out/adain.png --db $D/stylelab.db
ls -la $D $D/artifacts
du -sh $D
