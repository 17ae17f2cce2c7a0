#!/usr/bin/env bash
# Regenerates every picture of the README and of docs/ made from the digits
# tasks and the 1-D toy, from the very runs the captions describe, and
# prints each run's wall time (run it on an otherwise idle machine: these
# are the timings the README and docs quote; RUNS_DIR/timings.txt lists them).
#
#   scripts/make_figures.sh [RUNS_DIR]   (default /tmp/gan_jax_figures)
#
# The toy_2d pictures (docs/toy_2d_*.png) come from runs of hours:
# launch/toy_2d_table.sh and docs/toy_2d.md give their commands.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-/tmp/gan_jax_figures}
rm -rf "$runs" && mkdir -p "$runs"

timed() {  # timed NAME COMMAND...: runs it, appends "NAME: S s" to timings
  local name=$1 start=$SECONDS
  shift
  "$@"
  echo "$name: $((SECONDS - start)) s" | tee -a "$runs/timings.txt"
}

main=(python -m gan_jax.main)

# README (first picture), docs/dcgan.md: the quick start's run.
timed digits "${main[@]}" --config=configs/dcgan.py --workdir="$runs/digits"
cp "$runs"/digits/samples/step_*_epoch_100.png docs/digits_epoch100.png
# docs/dcgan.md: latent walks of that run.
timed digits_interpolate "${main[@]}" --config=configs/dcgan.py \
  --workdir="$runs/digits" --mode=interpolate
cp "$runs"/digits/interpolate/interpolation_step_*.png \
  docs/digits_interpolation.png
# The digits classifier alone (trained on first use, cached in WORKDIR/eval).
timed digits_classifier python -c "
from gan_jax.eval import digits_classifier
digits_classifier.get_classifier(32, 1, '$runs/classifier')"

# README, docs/conditional_dcgan.md: the conditional preset.
timed conditional "${main[@]}" --config=configs/dcgan.py:conditional \
  --workdir="$runs/conditional"
cp "$runs"/conditional/samples/step_*_epoch_100.png \
  docs/conditional_digits_epoch100.png

# The last test grid of a translation run, 2x nearest.
test_grid() {  # test_grid WORKDIR OUTPUT
  python -c "
import glob, sys
from PIL import Image
grid = Image.open(sorted(glob.glob(sys.argv[1] + '/eval/test_grid_step_*.png'))[-1])
grid.resize((grid.width * 2, grid.height * 2), Image.Resampling.NEAREST).save(
    sys.argv[2])" "$1" "$2"
}

# README, docs/pix2pix.md: edge maps -> digits, the test grid at the end.
timed pix2pix "${main[@]}" --config=configs/pix2pix.py --workdir="$runs/pix2pix"
test_grid "$runs/pix2pix" docs/pix2pix_digits_test_grid.png

# docs/cyclegan.md, docs/stargan.md: the test grid at the end.
timed cyclegan "${main[@]}" --config=configs/cyclegan.py --workdir="$runs/cyclegan"
test_grid "$runs/cyclegan" docs/cyclegan_digits_test_grid.png
timed stargan "${main[@]}" --config=configs/stargan.py --workdir="$runs/stargan"
test_grid "$runs/stargan" docs/stargan_digits_test_grid.png

# README, docs/toy_1d.md: Figure 1 of Goodfellow et al. from the 1-D toy.
timed toy_1d "${main[@]}" --config=configs/toy_1d.py --workdir="$runs/toy_1d"
for name in figure_1 training_snapshots training_curves; do
  cp "$runs/toy_1d/$name.png" "docs/toy_1d_$name.png"
done

echo "Pictures in docs/ rewritten; timings in $runs/timings.txt:"
cat "$runs/timings.txt"
