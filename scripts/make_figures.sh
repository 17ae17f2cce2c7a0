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

# The last grid WORKDIR/eval/NAME_step_*.png of a run, 2x nearest.
last_grid() {  # last_grid WORKDIR NAME OUTPUT
  python -c "
import glob, sys
from PIL import Image
grid = Image.open(sorted(glob.glob(f'{sys.argv[1]}/eval/{sys.argv[2]}_step_*.png'))[-1])
grid.resize((grid.width * 2, grid.height * 2), Image.Resampling.NEAREST).save(
    sys.argv[3])" "$1" "$2" "$3"
}

# README, docs/pix2pix.md: edge maps -> digits, the test grid at the end.
timed pix2pix "${main[@]}" --config=configs/pix2pix.py --workdir="$runs/pix2pix"
last_grid "$runs/pix2pix" test_grid docs/pix2pix_digits_test_grid.png

# docs/cyclegan.md, docs/stargan.md: the test grid at the end.
timed cyclegan "${main[@]}" --config=configs/cyclegan.py --workdir="$runs/cyclegan"
last_grid "$runs/cyclegan" test_grid docs/cyclegan_digits_test_grid.png
timed stargan "${main[@]}" --config=configs/stargan.py --workdir="$runs/stargan"
last_grid "$runs/stargan" test_grid docs/stargan_digits_test_grid.png

# docs/gawwn.md: the caption and box grids of the last evaluation, 2x nearest.
timed gawwn "${main[@]}" --config=configs/gawwn.py --workdir="$runs/gawwn" \
  --config.num_train_steps=10000 --config.eval_every_steps=2000
for name in captions boxes; do
  last_grid "$runs/gawwn" "$name" "docs/gawwn_digits_$name.png"
done

# docs/inpainting.md: a DCGAN on the digits' training split and the Context
# Encoder fill the held-out digits' centre holes (the table's runs); the
# figure: the first 8 rows of the latent-search grid and the Context
# Encoder's column beside them.
dcgan_train=(--config=configs/dcgan.py "--config.data.source=digits[train]"
             "--config.data.eval_source=digits[test]" --workdir="$runs/dcgan_train")
timed dcgan_train_split "${main[@]}" "${dcgan_train[@]}"
timed inpaint_latent_search "${main[@]}" "${dcgan_train[@]}" --mode=inpaint \
  --config.inpaint_num_images=128 --output="$runs/inpaint_latent_search"
timed context_encoder "${main[@]}" --config=configs/context_encoder.py \
  --workdir="$runs/context_encoder"
timed inpaint_context_encoder "${main[@]}" --config=configs/context_encoder.py \
  --workdir="$runs/context_encoder" --mode=inpaint \
  --config.inpaint_num_images=128 --output="$runs/inpaint_context_encoder"
python -c "
import sys
import numpy as np
from PIL import Image
from gan_jax.core import visualize
ls, ce = sys.argv[1:3]
folders = [f'{ls}/{m}' for m in ('original', 'masked', 'mean_fill', 'harmonic',
                                 'g_of_z', 'latent_search_blended')]
images = [np.asarray(Image.open(f'{folder}/{i:06d}.png'))[..., None]
          for i in range(8) for folder in folders + [f'{ce}/context_encoder']]
grid = visualize.image_grid(visualize.from_uint8(np.stack(images)), cols=7)
visualize.save_png(grid, 'docs/inpainting_digits_center.png', scale=2)
" "$runs/inpaint_latent_search" "$runs/inpaint_context_encoder"

# README, docs/toy_1d.md: Figure 1 of Goodfellow et al. from the 1-D toy.
timed toy_1d "${main[@]}" --config=configs/toy_1d.py --workdir="$runs/toy_1d"
for name in figure_1 training_snapshots training_curves; do
  cp "$runs/toy_1d/$name.png" "docs/toy_1d_$name.png"
done

echo "Pictures in docs/ rewritten; timings in $runs/timings.txt:"
cat "$runs/timings.txt"
