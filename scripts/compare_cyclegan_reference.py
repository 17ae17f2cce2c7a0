#!/usr/bin/env python3
"""gan_jax's CycleGAN update against the authors' own, step by step.

Builds ``configs/cyclegan.py``'s family and junyanz/pytorch-CycleGAN-and-
pix2pix's ``--model cycle_gan`` (imported from ``--reference_dir``, e.g. the
``CG/`` subtree of ../shared/bench/REFERENCES.md; nothing of it is copied
here) at the same size, copies gan_jax's initial weights into the reference's
networks, and runs both updates on the same images: ``optimize_parameters()``
there, the family's jitted ``train_step`` here (crops and flips off, so both
see the same pixels; the pools are still filling for ``--steps`` <= 50, so
what D sees does not depend on either side's random draws). Adam, betas,
learning rate, loss weights and the update order are each side's own
defaults.

A third side is gan_jax's own update with XLA's convolutions
(``model.conv_impl='lax'`` against the default fast 'matmul' path on CPU):
two correct float32 implementations, whose distance is the noise floor.
Adam's first steps move every weight by about the learning rate whatever
the size of its gradient, so rounding-level differences grow within a few
steps; the reference is as faithful as that floor shows if its distance from
gan_jax stays at the floor's while both are small.

Printed, as JSON lines: every step's loss terms on the three sides (the
reference's cycle terms divided by its lambdas) with the largest relative
difference from gan_jax's of each, then the generators' outputs on held-out
images after the last step (relative L2 of G_ab(a) and of G_ba(b)):

    python scripts/compare_cyclegan_reference.py --reference_dir /tmp/ref/CG

Needs torch and jax in one environment (e.g. the reference's venv with
``pip install -e .`` of this project).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'scripts'))
sys.path.insert(0, os.path.join(ROOT, 'configs'))

import bench_torch_translation  # pylint: disable=g-import-not-at-top,wrong-import-position


def our_family(size: int, generator: str, conv_impl: str):
  """The family of configs/cyclegan.py at ``size``, no crop, flip or decay."""
  import cyclegan as cyclegan_configs  # pylint: disable=g-import-not-at-top
  from gan_jax import families  # pylint: disable=g-import-not-at-top
  config = cyclegan_configs.get_config('facades')
  config.image_size = config.data.load_size = size
  config.data.flip = False
  config.model.generator = generator
  config.model.conv_impl = conv_impl
  config.optimizer.schedule = 'constant'
  return families.get('cyclegan')(config)


def _numbered(params: dict, kind: str) -> list:
  """params['KIND_0'], params['KIND_1'], ... (pytrees sort 'Conv_10' before
  'Conv_2', so the names' numbers give the order)."""
  names = [n for n in params if n.rsplit('_', 1)[0] == kind]
  return [params[n]
          for n in sorted(names, key=lambda n: int(n.rsplit('_', 1)[1]))]


def _flax_layers(params: dict) -> list[dict]:
  """Each layer's {'kernel', 'bias'} in the order the network applies them:
  the ResNet generator's convolutions with the two UpConvs before the last
  one; the PatchGAN's stride-2 then stride-1 convolutions, each followed by
  its own Bias module."""
  if 'UpConv_0' in params:
    convs = _numbered(params, 'Conv')
    layers = convs[:-1] + _numbered(params, 'UpConv') + convs[-1:]
  else:
    kernels = _numbered(params, 'Conv') + _numbered(params, 'StrideOneConv')
    layers = [{**k, **b} for k, b in zip(kernels, _numbered(params, 'Bias'))]
  return [{k: np.asarray(v) for k, v in layer.items()} for layer in layers]


def copy_into(module, params: dict) -> None:
  """gan_jax's weights into a reference network, layer by layer in order:
  Conv kernels (kh, kw, in, out) -> (out, in, kh, kw); UpConv kernels
  (kh, kw, out, in) -> ConvTranspose2d's (in, out, kh, kw)."""
  import torch  # pylint: disable=g-import-not-at-top
  convs = [m for m in module.modules()
           if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
  layers = _flax_layers(params)
  if len(convs) != len(layers):
    raise ValueError(f'{len(convs)} reference layers, {len(layers)} ours')
  with torch.no_grad():
    for conv, layer in zip(convs, layers):
      kernel = torch.from_numpy(layer['kernel'].transpose(3, 2, 0, 1).copy())
      if tuple(kernel.shape) != tuple(conv.weight.shape):
        raise ValueError(f'{tuple(kernel.shape)} against '
                         f'{tuple(conv.weight.shape)}')
      conv.weight.copy_(kernel)
      conv.bias.copy_(torch.from_numpy(layer['bias']))


def relative(x, y) -> float:
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  return float(np.linalg.norm(x - y) / np.linalg.norm(y))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--reference_dir', required=True)
  parser.add_argument('--size', type=int, default=64)
  parser.add_argument('--generator', default='resnet_6blocks')
  parser.add_argument('--steps', type=int, default=20)
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args()
  if not 1 <= args.steps <= 50:
    parser.error('--steps must be 1..50: beyond 50 the pools draw at random')

  import jax  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(os.cpu_count() or 1)
  ours = our_family(args.size, args.generator, 'matmul')
  state = ours.init(jax.random.PRNGKey(args.seed))
  step = jax.jit(ours.train_step)
  rng = np.random.RandomState(args.seed)
  # Smooth random images (upsampled noise), closer to photos than white
  # noise, so that instance norm and the cycle see structure.
  def images(n):
    small = rng.randint(0, 256, (n, args.size // 8, args.size // 8, 3))
    return np.repeat(np.repeat(small, 8, 1), 8, 2).astype(np.uint8)
  train_a, train_b = images(args.steps), images(args.steps)
  test_a, test_b = images(4), images(4)

  params = jax.device_get(state.players['g'].params)
  d_params = jax.device_get(state.players['d'].params)
  model = bench_torch_translation.reference_model(args.reference_dir, [
      '--model', 'cycle_gan', '--netG', args.generator, '--crop_size',
      str(args.size), '--load_size', str(args.size)])
  copy_into(model.netG_A, params['ab'])
  copy_into(model.netG_B, params['ba'])
  copy_into(model.netD_A, d_params['b'])  # the reference's D_A judges B
  copy_into(model.netD_B, d_params['a'])

  def to_torch(x):
    return torch.from_numpy(x.transpose(0, 3, 1, 2).astype(np.float32)
                            / 127.5 - 1)

  def reference_step(a, b):
    model.set_input({'A': to_torch(a), 'B': to_torch(b), 'A_paths': [''],
                     'B_paths': ['']})
    model.optimize_parameters()
    return {'g_gan_ab': model.loss_G_A.item(),
            'g_gan_ba': model.loss_G_B.item(),
            'cycle_a': model.loss_cycle_A.item() / model.opt.lambda_A,
            'cycle_b': model.loss_cycle_B.item() / model.opt.lambda_B,
            'd_loss_a': model.loss_D_B.item(),
            'd_loss_b': model.loss_D_A.item()}

  def reference_outputs():
    with torch.no_grad():
      return (model.netG_A(to_torch(test_a)).numpy().transpose(0, 2, 3, 1),
              model.netG_B(to_torch(test_b)).numpy().transpose(0, 2, 3, 1))

  lax = our_family(args.size, args.generator, 'lax')
  lax_state, lax_step = state, jax.jit(lax.train_step)
  names = ('g_gan_ab', 'g_gan_ba', 'cycle_a', 'cycle_b', 'd_loss_a',
           'd_loss_b')
  for i in range(args.steps):
    batch = {'input': train_a[i][None, None], 'image': train_b[i][None, None]}
    state, metrics = step(state, batch)
    lax_state, lax_metrics = lax_step(lax_state, batch)
    terms = {'gan_jax': jax.device_get(metrics),
             'gan_jax_lax': jax.device_get(lax_metrics),
             'reference': reference_step(train_a[i:i + 1],
                                         train_b[i:i + 1])}
    terms = {side: {k: float(v[k]) for k in names}
             for side, v in terms.items()}
    print(json.dumps({
        'step': i + 1, **terms,
        # The largest relative difference of a loss term from gan_jax's.
        **{f'{side}_vs_gan_jax': max(
            abs(terms[side][k] - terms['gan_jax'][k])
            / abs(terms['gan_jax'][k]) for k in names)
           for side in ('gan_jax_lax', 'reference')}}))
  outputs = {'gan_jax_lax': (lax.translate(lax_state, 'ab', test_a),
                             lax.translate(lax_state, 'ba', test_b)),
             'reference': reference_outputs()}
  ab, ba = ours.translate(state, 'ab', test_a), ours.translate(state, 'ba',
                                                               test_b)
  print(json.dumps({
      'steps': args.steps, 'size': args.size, 'generator': args.generator,
      **{f'{side}_vs_gan_jax_relative_l2': [relative(o[0], ab),
                                            relative(o[1], ba)]
         for side, o in outputs.items()}}))


if __name__ == '__main__':
  main()
