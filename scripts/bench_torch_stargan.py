#!/usr/bin/env python3
"""Throughput of the authors' StarGAN update (PyTorch), for speed comparisons.

Runs yunjey/stargan's own ``Solver.train()`` (CelebA mode: WGAN-GP D update
every iteration, G update every ``n_critic``-th) on one random batch that its
data loader hands out again and again, with the defaults of its ``main.py``
(64-wide G with 6 residual blocks, 6-layer D, 5 attributes, batch 16, Adam
1e-4). Each iteration's start is stamped when the solver fetches its batch;
the timed span is ``--steps`` whole G updates after ``--warmup`` of them
(``n_critic`` iterations each), so it excludes the solver's set-up. It
imports the reference from ``--reference_dir`` (a checkout of yunjey/stargan,
see ../shared/bench/REFERENCES.md); nothing of it is copied here. The
counterpart of ``python -m gan_jax.bench --config=configs/stargan.py:celeba``
(a step there is one G update and its ``d_steps`` D updates); both print
``images_per_s``, counting each iteration's batch once.

    /tmp/tv/bin/python scripts/bench_torch_stargan.py \\
        --reference_dir /tmp/stargan_src --size 128
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time


class StampedLoader:
  """An iterable handing out one batch forever, stamping each fetch."""

  def __init__(self, batch):
    self.batch = batch
    self.stamps = []

  def __iter__(self):
    while True:
      self.stamps.append(time.perf_counter())
      yield self.batch


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--reference_dir', required=True,
                      help="yunjey/stargan's root (holds solver.py)")
  parser.add_argument('--size', type=int, default=128, help='image size')
  parser.add_argument('--batch_size', type=int, default=16)
  parser.add_argument('--steps', type=int, default=4,
                      help='timed G updates (n_critic iterations each)')
  parser.add_argument('--warmup', type=int, default=1,
                      help='untimed G updates first')
  args = parser.parse_args()

  import torch  # pylint: disable=g-import-not-at-top
  sys.path.insert(0, os.path.abspath(args.reference_dir))
  from solver import Solver  # pylint: disable=g-import-not-at-top

  n_critic, c_dim = 5, 5
  work = tempfile.mkdtemp()
  never = 10 ** 9
  config = argparse.Namespace(
      # main.py's defaults.
      c_dim=c_dim, c2_dim=8, image_size=args.size, g_conv_dim=64,
      d_conv_dim=64, g_repeat_num=6, d_repeat_num=6, lambda_cls=1.0,
      lambda_rec=10.0, lambda_gp=10.0, dataset='CelebA',
      batch_size=args.batch_size, num_iters_decay=100000, g_lr=1e-4,
      d_lr=1e-4, n_critic=n_critic, beta1=0.5, beta2=0.999,
      resume_iters=None, test_iters=200000,
      selected_attrs=['Black_Hair', 'Blond_Hair', 'Brown_Hair', 'Male',
                      'Young'],
      use_tensorboard=False,
      # One iteration past the timed span, so its end is stamped too.
      num_iters=n_critic * (args.warmup + args.steps) + 1,
      log_dir=work, sample_dir=work, model_save_dir=work, result_dir=work,
      log_step=never, sample_step=never, model_save_step=never,
      lr_update_step=never)
  generator = torch.Generator().manual_seed(0)
  images = torch.rand((args.batch_size, 3, args.size, args.size),
                      generator=generator) * 2 - 1
  labels = (torch.rand((args.batch_size, c_dim), generator=generator)
            > 0.5).float()
  loader = StampedLoader((images, labels))
  with open(os.devnull, 'w') as quiet, contextlib.redirect_stdout(quiet):
    Solver(loader, None, config).train()  # it prints both networks
  # stamps[0] is the solver's fixed debugging batch; stamps[1 + i] starts
  # iteration i.
  first = 1 + n_critic * args.warmup
  last = first + n_critic * args.steps
  seconds = (loader.stamps[last] - loader.stamps[first]) / args.steps
  print(json.dumps({
      'images_per_s': args.batch_size * n_critic / seconds,
      'step_ms': 1e3 * seconds, 'iteration_ms': 1e3 * seconds / n_critic,
      'image_size': args.size, 'batch_size': args.batch_size,
      'n_critic': n_critic, 'threads': torch.get_num_threads(),
      'torch': torch.__version__}))


if __name__ == '__main__':
  main()
