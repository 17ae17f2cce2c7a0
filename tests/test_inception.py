"""gan_jax.inception with synthetic weights (no torch, no real weights needed).

The synthetic file goes through the conversion script's own code path
(torch-layout OIHW arrays -> _layer -> to_flat -> write_npz), so the script's
format and load_params cannot drift apart. Agreement with the real TorchScript
is checked by scripts/verify_inception_port.py, which needs both.
"""

import jax
import numpy as np
import pytest

from gan_jax.eval import inception

_KEY = 'params/mixed_4/tower_1/conv_2/kernel'


@pytest.fixture(scope='module')
def weights_file(synthetic_inception_weights):
  return synthetic_inception_weights


@pytest.fixture(scope='module')
def feature_fn(weights_file):
  return inception.make_feature_fn(inception.load_params(weights_file))


def test_features_shape_finite_deterministic(feature_fn):
  images = np.random.default_rng(1).uniform(-1, 1, (2, 16, 16, 3))
  images = images.astype(np.float32)
  first = np.asarray(feature_fn(images))
  second = np.asarray(feature_fn(images))
  assert first.shape == (2, inception.FEATURE_DIM)
  assert first.dtype == np.float32
  assert np.all(np.isfinite(first))
  np.testing.assert_array_equal(first, second)
  # pool_3 follows a ReLU; distinct images give distinct, non-trivial features.
  assert first.min() >= 0 and first.max() > 0
  assert not np.allclose(first[0], first[1])


def test_one_channel_is_repeated_to_rgb(feature_fn):
  gray = np.random.default_rng(2).uniform(-1, 1, (2, 16, 16, 1))
  gray = gray.astype(np.float32)
  from_gray = np.asarray(feature_fn(gray))
  from_rgb = np.asarray(feature_fn(np.repeat(gray, 3, axis=-1)))
  assert from_gray.shape == (2, inception.FEATURE_DIM)
  np.testing.assert_allclose(from_gray, from_rgb, rtol=1e-6, atol=1e-6)


def test_rejects_bad_image_shape(feature_fn):
  with pytest.raises(ValueError, match='1 or 3'):
    feature_fn(np.zeros((2, 16, 16, 4), np.float32))


def test_save_params_round_trip(weights_file, tmp_path):
  variables = inception.load_params(weights_file)
  path = str(tmp_path / 'again.npz')
  inception.save_params(variables, path)
  again = inception.load_params(path)
  assert set(again) == {'params', 'batch_stats'}
  jax.tree.map(np.testing.assert_array_equal, variables, again)
  # The file holds the TorchScript's OIHW weight transposed to HWIO.
  assert variables['params']['conv']['kernel'].shape == (3, 3, 3, 32)


def test_missing_file_names_path(tmp_path):
  path = str(tmp_path / 'nope.npz')
  with pytest.raises(inception.InceptionWeightsError, match='nope.npz'):
    inception.load_params(path)


def test_unreadable_file_names_path(tmp_path):
  path = tmp_path / 'garbage.npz'
  path.write_bytes(b'not an npz')
  with pytest.raises(inception.InceptionWeightsError, match='garbage.npz'):
    inception.load_params(str(path))


def test_wrong_shape_names_key_and_both_shapes(weights_file, tmp_path):
  with np.load(weights_file) as npz:
    arrays = {k: npz[k] for k in npz.files}
  assert arrays[_KEY].shape == (1, 7, 128, 128)
  arrays[_KEY] = np.zeros((7, 1, 128, 128), np.float32)
  path = str(tmp_path / 'bad_shape.npz')
  np.savez(path, **arrays)
  with pytest.raises(inception.InceptionWeightsError) as info:
    inception.load_params(path)
  message = str(info.value)
  assert 'bad_shape.npz' in message and _KEY in message
  assert '(1, 7, 128, 128)' in message and '(7, 1, 128, 128)' in message


def test_missing_key_is_reported(weights_file, tmp_path):
  with np.load(weights_file) as npz:
    arrays = {k: npz[k] for k in npz.files if k != _KEY}
  path = str(tmp_path / 'missing_key.npz')
  np.savez(path, **arrays)
  with pytest.raises(inception.InceptionWeightsError, match=_KEY):
    inception.load_params(path)


def test_resize_is_tf_style_bilinear():
  # Source coordinate i * in / out (no half-pixel shift), edge clamped:
  # 2 -> 4 samples at 0, 0.5, 1, 1.5 -> 1.
  np.testing.assert_allclose(
      inception._resize_matrix(2, 4),  # pylint: disable=protected-access
      [[1, 0], [0.5, 0.5], [0, 1], [0, 1]])
  # 4 -> 2 samples at 0 and 2: no antialiasing, as in the reference.
  np.testing.assert_allclose(
      inception._resize_matrix(4, 2),  # pylint: disable=protected-access
      [[1, 0, 0, 0], [0, 0, 1, 0]])


def test_preprocess_maps_generator_range_to_graph_input():
  # [-1, 1] -> pixels (x + 1) * 127.5 -> (p - 128) / 128, as the TorchScript.
  x = np.full((1, 299, 299, 3), -1.0, np.float32)
  x[..., 1] = 1.0
  x[..., 2] = 127 / 127.5 - 1  # The pixel value 127.
  out = np.asarray(inception.preprocess(x))
  assert out.shape == (1, 299, 299, 3)
  np.testing.assert_allclose(out[0, 0, 0], [-1.0, 127 / 128, -1 / 128],
                             atol=1e-6)
  # A constant image stays constant through the resize.
  resized = np.asarray(inception.preprocess(np.zeros((1, 7, 5, 1), np.float32)))
  assert resized.shape == (1, 299, 299, 3)
  np.testing.assert_allclose(resized, -0.5 / 128, atol=1e-6)
