#!/usr/bin/env python3
"""Throughput of the authors' pix2pix or CycleGAN update (PyTorch), for speed
comparisons.

Times ``optimize_parameters()`` of junyanz/pytorch-CycleGAN-and-pix2pix's
``--model pix2pix`` or ``--model cycle_gan`` (what its ``train.py`` reports as
``t_comp``) on random inputs, after a warm-up, with its own option parser and
defaults (pix2pix: unet_256, batch norm, vanilla GAN + 100 L1; cycle_gan:
resnet_9blocks, instance norm, LSGAN + cycle + identity, image pools; batch 1,
Adam). It imports the reference from ``--reference_dir`` (a checkout of that
code, e.g. the ``CG/`` subtree described in ../shared/bench/REFERENCES.md);
nothing of it is copied here. The counterpart of ``python -m gan_jax.bench
--config=configs/pix2pix.py:facades`` (or ``configs/cyclegan.py:facades``);
both print ``images_per_s``.

    /tmp/tv/bin/python scripts/bench_torch_translation.py \\
        --reference_dir /tmp/ref/CG --model cycle_gan
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time


def reference_model(reference_dir: str, options: list[str]):
  """The reference's model (``create_model``, ``setup``) from its own option
  parser with ``options`` on its defaults, on the CPU, with checkpoints in a
  temporary folder; the options it prints are swallowed."""
  sys.path.insert(0, os.path.abspath(reference_dir))
  from models import create_model  # pylint: disable=g-import-not-at-top
  from options.train_options import TrainOptions  # pylint: disable=g-import-not-at-top
  scratch = tempfile.mkdtemp()
  sys.argv = [sys.argv[0], '--dataroot', scratch, '--gpu_ids', '-1',
              '--checkpoints_dir', scratch, '--name', 'reference', *options]
  stdout, sys.stdout = sys.stdout, open(os.devnull, 'w')
  try:
    opt = TrainOptions().parse()
    model = create_model(opt)
    model.setup(opt)
  finally:
    sys.stdout.close()
    sys.stdout = stdout
  return model


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--reference_dir', required=True,
                      help="the reference code's root (holds models/, "
                      'options/)')
  parser.add_argument('--model', default='pix2pix',
                      choices=('pix2pix', 'cycle_gan'), help='which update')
  parser.add_argument('--size', type=int, default=256, help='crop size')
  parser.add_argument('--steps', type=int, default=10, help='timed updates')
  parser.add_argument('--warmup', type=int, default=3,
                      help='untimed updates first')
  args = parser.parse_args()

  import torch  # pylint: disable=g-import-not-at-top
  if args.model == 'pix2pix':
    net = {256: 'unet_256', 128: 'unet_128'}[args.size]
  else:
    net = {256: 'resnet_9blocks', 128: 'resnet_6blocks'}[args.size]
  model = reference_model(args.reference_dir, [
      '--model', args.model, '--direction', 'BtoA', '--netG', net,
      '--crop_size', str(args.size), '--load_size', str(args.size)])
  generator = torch.Generator().manual_seed(0)
  shape = (1, 3, args.size, args.size)
  data = {'A': torch.rand(shape, generator=generator) * 2 - 1,
          'B': torch.rand(shape, generator=generator) * 2 - 1,
          'A_paths': ['a'], 'B_paths': ['b']}
  for _ in range(args.warmup):
    model.set_input(data)
    model.optimize_parameters()
  start = time.perf_counter()
  for _ in range(args.steps):
    model.set_input(data)
    model.optimize_parameters()
  seconds = (time.perf_counter() - start) / args.steps
  print(json.dumps({'images_per_s': 1 / seconds, 'step_ms': 1e3 * seconds,
                    'model': args.model,
                    'image_size': args.size, 'batch_size': 1,
                    'threads': torch.get_num_threads(),
                    'torch': torch.__version__}))


if __name__ == '__main__':
  main()
