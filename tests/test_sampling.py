"""Latent walks, and generate/interpolate from a trained run's checkpoint."""

import os

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image
import pytest

from gan_jax import modes
from gan_jax.core import checkpoints
from gan_jax.nn import latent


def test_slerp_endpoints_norm_and_parallel_limit():
  a = jnp.array([[3.0, 0.0, 0.0]])
  b = jnp.array([[0.0, 3.0, 0.0]])
  np.testing.assert_allclose(latent.slerp(a, b, 0.0), a, atol=1e-6)
  np.testing.assert_allclose(latent.slerp(a, b, 1.0), b, atol=1e-6)
  # Equal norms, 90 degrees apart: every point stays on the sphere.
  for t in (0.25, 0.5, 0.8):
    assert float(jnp.linalg.norm(latent.slerp(a, b, t))) == pytest.approx(3.0)
  # Parallel endpoints: the straight line, not NaN.
  np.testing.assert_allclose(latent.slerp(a, 2 * a, 0.5), 1.5 * a, rtol=1e-6)


@pytest.mark.parametrize('distribution', ['uniform', 'normal'])
def test_latent_walks(distribution):
  key = jax.random.PRNGKey(0)
  z = latent.latent_walks(key, 3, 5, 8, distribution).reshape(3, 5, 8)
  np.testing.assert_array_equal(
      z, latent.latent_walks(key, 3, 5, 8, distribution).reshape(3, 5, 8))
  ends = np.asarray(z[:, [0, -1]])
  assert not np.allclose(ends[:, 0], ends[:, 1])
  if distribution == 'uniform':  # linear: equal steps, inside the cube
    steps = np.diff(np.asarray(z), axis=1)
    np.testing.assert_allclose(steps, steps[:, :1].repeat(4, 1), atol=1e-6)
    assert np.abs(z).max() <= 1.0
  else:  # spherical: the midpoint keeps a typical norm, a line's shrinks
    mid = np.asarray(z[:, 2])
    straight = (ends[:, 0] + ends[:, 1]) / 2
    assert (np.linalg.norm(mid, axis=-1)
            > np.linalg.norm(straight, axis=-1)).all()


def test_generate_writes_a_deterministic_dataset(trained_run, tmp_path):
  config, workdir = trained_run
  first = modes.run(config, workdir, 'generate', str(tmp_path / 'a'))
  second = modes.run(config, workdir, 'generate', str(tmp_path / 'b'))
  pngs = sorted(f for f in os.listdir(first) if f.endswith('.png'))
  assert len(pngs) == 20 and pngs[0] == '000000.png'
  with Image.open(os.path.join(first, pngs[-1])) as image:
    assert image.size == (32, 32) and image.mode == 'L'
  images = np.load(os.path.join(first, 'images.npz'))['images']
  assert images.shape == (20, 32, 32, 1) and images.dtype == np.uint8
  np.testing.assert_array_equal(
      images, np.load(os.path.join(second, 'images.npz'))['images'])
  # The PNGs hold the same pixels as the npz.
  np.testing.assert_array_equal(
      np.asarray(Image.open(os.path.join(first, pngs[5]))), images[5, ..., 0])
  # Not 20 copies of one image.
  assert np.ptp(images.reshape(20, -1).astype(int), axis=0).max() > 0


def test_interpolate_writes_one_row_per_walk(trained_run):
  config, workdir = trained_run
  path = modes.run(config, workdir, 'interpolate', None)
  assert path.startswith(os.path.join(workdir, 'interpolate'))
  with Image.open(path) as image:
    # 4 columns x 3 rows of 32x32 with 2-pixel padding.
    assert image.size == (4 * 34 + 2, 3 * 34 + 2)


def test_no_checkpoint_is_one_clear_error(tiny_config, tmp_path):
  with pytest.raises(checkpoints.CheckpointError, match='no checkpoints in'):
    modes.run(tiny_config, str(tmp_path / 'empty'), 'generate', None)
  assert not (tmp_path / 'empty').exists()
