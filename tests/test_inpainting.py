"""Inpainting: masks, Poisson blending, the latent search's weights and
search, and --mode=inpaint end to end (gan_jax/inpainting, dcgan/inpainting)."""

import json
import os

import jax
import numpy as np
from PIL import Image
import pytest
from scipy import signal

from gan_jax import modes
from gan_jax.core import errors, loop, visualize
from gan_jax.data import sources
from gan_jax.families.context_encoder import models as ce_models
from gan_jax.families.context_encoder import step as ce_step
from gan_jax.families.dcgan import inpainting as latent_search
from gan_jax.inpainting import completion, masks, poisson


def _ramp(size=12, channels=2):
  """A linear image: harmonic everywhere (its Laplacian is 0)."""
  rows, cols = np.mgrid[0:size, 0:size].astype(np.float32)
  image = np.stack([0.05 * rows - 0.3, -0.04 * cols + 0.02 * rows][:channels],
                   -1)
  return image[None]


def test_harmonic_fill_and_blend_recover_what_they_should():
  image = _ramp()
  known = masks.center(12)[None]
  # A linear image is the harmonic fill of its own border values.
  np.testing.assert_allclose(poisson.harmonic_fill(image, known), image,
                             atol=1e-5)
  # Blending keeps the source's gradients and the target's border: a source
  # that is the truth plus a constant is put back to the truth, and the
  # known pixels are the target's exactly.
  rng = np.random.default_rng(0)
  truth = rng.uniform(-1, 1, (2, 12, 12, 3)).astype(np.float32)
  target = truth * known + 0.7 * (1 - known)  # the hole holds junk
  known = np.repeat(known, 2, 0)
  blended = np.asarray(poisson.blend(target, truth + 0.4, known))
  np.testing.assert_allclose(blended, truth, atol=1e-4)
  np.testing.assert_array_equal(blended * known, target * known)
  # Pasting would leave the offset: blending is not a copy of the source.
  assert np.abs((truth + 0.4 - truth) * (1 - known)).max() > 0.3


def test_mask_kinds():
  center = masks.make_masks('center', 3, 32, 0)
  assert center.shape == (3, 32, 32, 1)
  assert (1 - center).sum((1, 2, 3)).tolist() == [256] * 3  # a quarter
  assert center[0, 8:24, 8:24].max() == 0 and center[0, :8].min() == 1
  half = masks.make_masks('half', 1, 32, 0)
  assert half[0, :, :16].max() == 0 and half[0, :, 16:].min() == 1
  blocks = masks.make_masks('random_blocks', 64, 32, 7)
  missing = (1 - blocks).mean((1, 2, 3))
  assert 0.2 < missing.mean() < 0.3 and missing.min() > 0.05
  assert not np.array_equal(blocks[0], blocks[1])
  np.testing.assert_array_equal(
      blocks, masks.make_masks('random_blocks', 64, 32, 7))


def _write_mask(path, array):
  Image.fromarray(array.astype(np.uint8)).save(path)


def test_mask_folder_and_its_bad_files(tmp_path):
  good = np.full((16, 16), 255)
  good[4:8, 4:8] = 0
  _write_mask(tmp_path / 'a.png', good)
  _write_mask(tmp_path / 'b.png', 255 - good)
  loaded = masks.make_masks(str(tmp_path), 3, 16, 0)
  assert loaded[0, 4:8, 4:8].max() == 0 and loaded[0].sum() == 256 - 16
  assert loaded[1].sum() == 16  # b.png: only the square is known
  np.testing.assert_array_equal(loaded[2], loaded[0])  # cycles
  for name, array, message in (
      ('c.png', np.full((16, 16), 255), 'c.png has no missing pixel'),
      ('c.png', np.zeros((16, 16)), 'c.png has no known pixel'),
      ('c.png', np.zeros((8, 16)), r'c.png.* is 16x8; the images are 16x16')):
    _write_mask(tmp_path / name, array)
    with pytest.raises(errors.ConfigError, match=message):
      masks.make_masks(str(tmp_path), 3, 16, 0)
  (tmp_path / 'c.png').write_bytes(b'not an image')
  with pytest.raises(errors.ConfigError, match='cannot read the mask'):
    masks.make_masks(str(tmp_path), 3, 16, 0)


def test_context_weights_match_the_release_formula():
  known = masks.make_masks('random_blocks', 2, 24, 3)
  ours = np.asarray(latent_search.context_weights(known, 7))
  for k, w in zip(known[..., 0], ours[..., 0]):
    # tools.createWeightedMask: mask * convolve2d(1 - mask, ones/n^2, 'same',
    # boundary='symm').
    expected = k * signal.convolve2d(1 - k, np.ones((7, 7)) / 49, mode='same',
                                     boundary='symm')
    np.testing.assert_allclose(w, expected, atol=1e-6)
  assert ours[known == 0].max() == 0  # the hole itself has no weight


def test_hole_scores_look_inside_the_hole_only():
  rng = np.random.default_rng(0)
  original = rng.integers(20, 230, (2, 24, 24, 3), dtype=np.uint8)
  known = masks.make_masks('center', 2, 24, 0)
  completed = original.copy()
  completed[:, 6:18, 6:18] += 10  # the hole, off by 10 grey levels
  completed[:, :3] = 0  # known pixels: the fill never changes them, and
  # the scores must not look at them
  scores = completion.hole_scores(completed, original, known)
  assert scores['l1_hole'] == pytest.approx(10 / 127.5)
  assert scores['psnr_hole'] == pytest.approx(10 * np.log10(255**2 / 100))
  exact = completion.hole_scores(original, original, known)
  assert exact['psnr_hole'] == 100.0 and exact['ssim_hole'] == pytest.approx(1)


def test_latent_search_lowers_the_context_loss(trained_run):
  config, workdir = trained_run
  family, state, _ = loop.restore_trained(config, workdir)
  images = np.asarray(visualize.from_uint8(
      sources.make_source('digits[test]', 32, 1).load(
          np.arange(4))['image']))
  known = masks.make_masks('center', 4, 32, 0)
  g = family.g_variables(state)
  d = (state.players['d'].params, state.players['d'].batch_stats)
  key = jax.random.PRNGKey(1)
  results = {}
  for iterations in (0, 40):
    config.inpaint_iterations = iterations
    results[iterations] = latent_search.make_search(family)(
        g, d, images, known, key)
  assert (results[40]['context'] < results[0]['context']).all()
  assert np.isfinite(results[40]['perceptual']).all()


def test_inpaint_mode_writes_scores_files_and_grid(trained_run, tmp_path):
  config, workdir = trained_run
  out = modes.run(config, workdir, 'inpaint', str(tmp_path / 'out'))
  with open(os.path.join(out, 'metrics.json')) as f:
    report = json.load(f)
  methods = ['masked', 'mean_fill', 'harmonic', 'g_of_z', 'latent_search',
             'latent_search_blended']
  assert report['grid_columns'] == ['original'] + methods
  assert report['num_images'] == 5 and report['images'] == 'digits[test]'
  assert report['missing_fraction'] == 0.25
  originals = sources.make_source('digits[test]', 32, 1).load(
      np.arange(5))['image']
  known = masks.center(32)[None].astype(bool)
  for method in ['original'] + methods:
    files = sorted(os.listdir(os.path.join(out, method)))
    assert files == [f'{i:06d}.png' for i in range(5)]
    pixels = np.stack([np.asarray(Image.open(os.path.join(out, method, f)))
                       for f in files])[..., None]
    if method != 'g_of_z':  # every fill keeps the known pixels as they were
      np.testing.assert_array_equal(pixels[np.broadcast_to(known, pixels.shape)],
                                    originals[np.broadcast_to(known,
                                                              pixels.shape)])
    if method == 'original':
      np.testing.assert_array_equal(pixels, originals)
    elif method != 'masked':
      scores = report['methods'][method]
      assert set(scores) == {'l1_hole', 'psnr_hole', 'ssim_hole'}
      assert scores['psnr_hole'] > 0 and -1 <= scores['ssim_hole'] <= 1
  grid = Image.open(os.path.join(out, 'grid.png'))
  assert grid.size == (2 * (7 * 34 + 2), 2 * (3 * 34 + 2))


def test_inpaint_reads_a_folder_and_refuses_what_it_cannot_fill(
    trained_run, tmp_path):
  config, workdir = trained_run
  images = tmp_path / 'in'
  images.mkdir()
  for name in ('x.png', 'y.png', 'y.jpg'):
    Image.fromarray(np.full((40, 40), 200, np.uint8)).save(images / name)
  (images / 'notes.png').write_text('not an image')  # skipped and counted
  out = modes.run(config, workdir, 'inpaint', str(tmp_path / 'out'),
                  input_dir=str(images))
  assert sorted(os.listdir(os.path.join(out, 'harmonic'))) == [
      'x.png', 'y_jpg.png', 'y_png.png']
  # A flat image's harmonic fill is flat: the baseline is exact here.
  with open(os.path.join(out, 'metrics.json')) as f:
    assert json.load(f)['methods']['harmonic']['l1_hole'] == 0
  config = config.copy_and_resolve_references()
  config.data.eval_source = ''
  with pytest.raises(errors.ConfigError, match='needs --input=DIR'):
    modes.run(config, workdir, 'inpaint', str(tmp_path / 'o2'))
  config.inpaint_mask = 'triangle'
  with pytest.raises(errors.ConfigError, match="'triangle' is neither"):
    modes.run(config, workdir, 'inpaint', str(tmp_path / 'o3'))


def test_channelwise_dense_mixes_within_channels_only():
  layer = ce_models.ChannelwiseDense()
  x = np.random.default_rng(0).normal(size=(2, 4, 4, 3)).astype(np.float32)
  params = layer.init(jax.random.PRNGKey(0), x)
  assert params['params']['kernel'].shape == (3, 16, 16)  # m n^4 weights
  y = layer.apply(params, x)
  x2 = x.copy()
  x2[:, 0, 0, 1] += 1.0  # one pixel of channel 1
  changed = np.abs(np.asarray(layer.apply(params, x2) - y)).max((0, 1, 2))
  assert changed[1] > 0 and changed[0] == 0 and changed[2] == 0


def test_context_encoder_region_weights_and_training_masks():
  known = masks.center(16)[None]
  region, weights = ce_step.region_weights(known, 2, 10.0)
  region, weights = np.asarray(region)[0, ..., 0], np.asarray(weights)[0, ..., 0]
  assert region[2:14, 2:14].min() == 1 and region.sum() == 12 * 12
  assert weights[4:12, 4:12].min() == weights[4:12, 4:12].max() == 1.0
  assert weights[2, 2] == weights[13, 8] == 10.0 and weights[0, 0] == 0
  both = np.asarray(ce_step.draw_masks(jax.random.PRNGKey(0), 64, 16, 'both'))
  is_center = [np.array_equal(m, masks.center(16)) for m in both]
  assert 10 < sum(is_center) < 54  # a mixture of the two kinds


@pytest.fixture(scope='module')
def ce_run(tmp_path_factory):
  import context_encoder  # configs/context_encoder.py  # pylint: disable=g-import-not-at-top
  config = context_encoder.get_config()
  config.batch_size, config.model.base_width = 8, 4
  config.num_train_steps, config.num_sample_images = 2, 2
  config.eval_metrics = ('hole',)
  config.inpaint_num_images, config.inpaint_grid_rows = 10, 2
  config.data.num_workers = 1
  workdir = str(tmp_path_factory.mktemp('ce'))
  summary = loop.train(config, workdir)
  return config, workdir, summary


def test_context_encoder_trains_evaluates_and_inpaints(ce_run, tmp_path):
  config, workdir, summary = ce_run
  assert set(summary['eval']) >= {'l1_hole', 'psnr_hole', 'ssim_hole'}
  config = config.copy_and_resolve_references()
  config.inpaint_mask = 'random_blocks'
  out = modes.run(config, workdir, 'inpaint', str(tmp_path / 'out'))
  with open(os.path.join(out, 'metrics.json')) as f:
    report = json.load(f)
  assert report['grid_columns'] == ['original', 'masked', 'mean_fill',
                                    'harmonic', 'prediction',
                                    'context_encoder']
  assert report['num_images'] == 10
  assert 0.1 < report['missing_fraction'] < 0.4
  filled = report['methods']['context_encoder']
  # The in-loop evaluation scores the same fills (centre masks there).
  assert set(filled) == {'l1_hole', 'psnr_hole', 'ssim_hole'}
