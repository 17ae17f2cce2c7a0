import logging
import os

import numpy as np
import pytest
from PIL import Image

from gan_jax.data import sources as ip


@pytest.fixture(scope='module')
def digits():
  return ip.make_source('digits', 32, 1)


def test_digits_source(digits):
  assert digits.num_examples == 1797
  images = digits.load(np.arange(5))
  assert images.shape == (5, 32, 32, 1) and images.dtype == np.uint8
  assert images.min() == 0 and images.max() == 255


def test_digits_three_channels_replicate_grey():
  images = ip.make_source('digits', 32, 3).load(np.arange(2))
  assert images.shape == (2, 32, 32, 3)
  np.testing.assert_array_equal(images[..., 0], images[..., 2])


def _write_folder(root):
  rng = np.random.default_rng(0)
  os.makedirs(root / 'sub' / 'deeper')
  Image.fromarray(rng.integers(0, 255, (40, 60, 3), np.uint8)).save(
      root / 'a.png')
  Image.fromarray(rng.integers(0, 255, (50, 30), np.uint8), 'L').save(
      root / 'sub' / 'b.JPG')
  Image.fromarray(rng.integers(0, 255, (32, 32, 4), np.uint8), 'RGBA').save(
      root / 'sub' / 'deeper' / 'c.png')
  (root / 'notes.txt').write_text('not an image')
  (root / 'broken.jpg').write_bytes(b'\xff\xd8 not really a jpeg')


def test_folder_source_recursive_and_converted(tmp_path, caplog):
  _write_folder(tmp_path)
  with caplog.at_level(logging.WARNING):
    source = ip.make_source(f'folder:{tmp_path}', 32, 3)
  assert source.num_examples == 3  # a.png, sub/b.JPG, sub/deeper/c.png
  assert 'Skipped 1 of 4' in caplog.text and 'broken.jpg' in caplog.text
  images = source.load(np.arange(3))
  assert images.shape == (3, 32, 32, 3) and images.dtype == np.uint8
  grey = ip.make_source(f'folder:{tmp_path}', 64, 1).load(np.array([0]))
  assert grey.shape == (1, 64, 64, 1)


def test_folder_source_centre_crops(tmp_path):
  # A wide image: left third black, middle white, right third black.
  pixels = np.zeros((30, 90), np.uint8)
  pixels[:, 30:60] = 255
  Image.fromarray(pixels, 'L').save(tmp_path / 'wide.png')
  image = ip.make_source(f'folder:{tmp_path}', 32, 1).load(np.array([0]))[0]
  assert image[:, 4:28].min() > 200  # only the white middle survives


@pytest.mark.parametrize('source,match', [
    ('folder:/no/such/dir', 'does not exist'),
    ('imagenet', "'digits', 'folder:PATH' or 'tfds:NAME\\[SPLIT\\]'"),
])
def test_bad_sources(source, match):
  with pytest.raises(ip.DataError, match=match):
    ip.make_source(source, 32, 1)


def test_empty_folder(tmp_path):
  (tmp_path / 'readme.md').write_text('x')
  with pytest.raises(ip.DataError, match='no usable'):
    ip.make_source(f'folder:{tmp_path}', 32, 1)


def _indices_source(n):
  """A source whose 'image' is its own index, to read the order directly."""
  return ip.ImageSource('ids', n, (1, 1, 1),
                        lambda idx: np.asarray(idx, np.uint8).reshape(-1, 1, 1,
                                                                      1))


def _ids(batches):
  return [b.reshape(b.shape[0], b.shape[1]) for b in batches]


def test_order_is_per_epoch_permutation_and_seeded():
  source = _indices_source(50)  # 5 batches of 10 per epoch
  run = _ids(ip.train_batches(source, seed=3, batch_size=10, d_steps=1,
                              num_steps=10))
  epoch0 = np.concatenate([b[0] for b in run[:5]])
  epoch1 = np.concatenate([b[0] for b in run[5:]])
  assert sorted(epoch0) == sorted(epoch1) == list(range(50))
  assert not np.array_equal(epoch0, epoch1)
  other_seed = _ids(ip.train_batches(source, seed=4, batch_size=10, d_steps=1,
                                     num_steps=5))
  assert not np.array_equal(np.concatenate(other_seed), np.concatenate(run[:5]))


def test_resume_sees_the_same_batches_and_k_fresh_batches_per_step():
  source = _indices_source(64)
  kwargs = dict(seed=0, batch_size=8, d_steps=2, num_steps=12)
  full = _ids(ip.train_batches(source, **kwargs))
  assert len(full) == 12 and full[0].shape == (2, 8)
  assert len(np.unique(full[0])) == 16  # k distinct minibatches
  resumed = _ids(ip.train_batches(source, start_step=7, **kwargs))
  assert len(resumed) == 5
  for a, b in zip(full[7:], resumed):
    np.testing.assert_array_equal(a, b)


def test_processes_split_each_global_batch():
  source = _indices_source(48)
  kwargs = dict(seed=1, batch_size=8, d_steps=1, num_steps=6)
  whole = _ids(ip.train_batches(source, **kwargs))
  parts = [_ids(ip.train_batches(source, process_index=p, process_count=2,
                                 **kwargs)) for p in (0, 1)]
  for step, batch in enumerate(whole):
    np.testing.assert_array_equal(
        batch, np.concatenate([parts[0][step], parts[1][step]], axis=1))


def test_batch_larger_than_dataset():
  with pytest.raises(ip.DataError, match='larger than'):
    next(ip.train_batches(_indices_source(5), seed=0, batch_size=8, d_steps=1,
                          num_steps=1))


@pytest.fixture
def mock_tfds():
  tfds = pytest.importorskip('tensorflow_datasets')
  with tfds.testing.mock_data(num_examples=20,
                              policy=tfds.testing.MockPolicy.USE_CODE):
    yield


@pytest.mark.parametrize('spec,name,channels', [
    ('tfds:mnist', 'tfds:mnist[train]', 1),
    ('tfds:cifar10[test]', 'tfds:cifar10[test]', 3)])
def test_tfds_source_on_mocked_data(mock_tfds, spec, name, channels):
  source = ip.make_source(spec, 32, channels)
  assert (source.name, source.num_examples) == (name, 20)
  images = source.load(np.array([3, 0, 19]))
  assert images.shape == (3, 32, 32, channels) and images.dtype == np.uint8


def test_tfds_process_shards_are_disjoint_and_cover_the_split(mock_tfds):
  source = ip.make_source('tfds:mnist', 32, 1)
  seen = {0: [], 1: []}
  for process in (0, 1):
    recording = ip.ImageSource(
        source.name, source.num_examples, source.image_shape,
        lambda idx, p=process: (seen[p].append(idx.copy()), source.load(idx))[1])
    # One epoch of 5 global batches of 4: each process decodes 2 rows of each.
    batches = list(ip.train_batches(recording, seed=0, batch_size=4,
                                    d_steps=1, num_steps=5, num_threads=1,
                                    process_index=process, process_count=2))
    assert [b.shape for b in batches] == [(1, 2, 32, 32, 1)] * 5
  first, second = np.concatenate(seen[0]), np.concatenate(seen[1])
  assert not set(first) & set(second)
  assert sorted([*first, *second]) == list(range(20))


@pytest.mark.parametrize('spec,match', [
    ('tfds:', 'needs a dataset name'), ('tfds:mnist[train', 'tfds:NAME'),
    ('tfds:no_such_dataset_xyz', "cannot open data.source 'tfds:no_such")])
def test_bad_tfds_sources(spec, match):
  pytest.importorskip('tensorflow_datasets')
  with pytest.raises(ip.DataError, match=match):
    ip.make_source(spec, 32, 1)


@pytest.fixture(scope='module')
def messy_folder(tmp_path_factory):
  """Every kind of file users' folders hold, and what each should become."""
  root = tmp_path_factory.mktemp('messy')
  rng = np.random.default_rng(0)
  rgb = rng.integers(0, 255, (80, 80, 3), np.uint8)
  Image.fromarray(rgb).save(root / 'a_ok.jpg')
  Image.fromarray(rgb[..., 0], 'L').save(root / 'b_grey.png')
  Image.fromarray(np.dstack([rgb, np.zeros((80, 80), np.uint8)]),
                  'RGBA').save(root / 'c_transparent.png')
  Image.fromarray(rgb).convert('P').save(root / 'd_palette.png')
  Image.fromarray(np.full((80, 80), 30000, np.uint16)).save(
      root / 'e_sixteen_bit.png')
  Image.fromarray(rgb).convert('CMYK').save(root / 'f_cmyk.jpg')
  Image.fromarray(rgb[:20, :20]).save(root / 'g_tiny.png')
  Image.fromarray(rng.integers(0, 255, (1200, 1600, 3), np.uint8)).save(
      root / 'h_huge.jpg', quality=80)
  (root / 'x_empty.jpg').write_bytes(b'')
  (root / 'y_text.png').write_text('not an image')
  jpeg = (root / 'a_ok.jpg').read_bytes()
  (root / 'z_truncated.jpg').write_bytes(jpeg[:len(jpeg) // 2])
  return root


def test_messy_folder_skips_counts_and_converts(messy_folder, caplog):
  with caplog.at_level(logging.WARNING):
    source = ip.make_source(f'folder:{messy_folder}', 32, 3)
  assert source.num_examples == 8
  warnings_ = [r.getMessage() for r in caplog.records]
  assert len(warnings_) == 3  # skipped, converted, upscaled: one line each
  skipped, converted, upscaled = warnings_
  assert skipped.startswith('Skipped 3 of 11 files')
  for name, why in (('x_empty.jpg', 'empty file'),
                    ('y_text.png', 'cannot identify image file'),
                    ('z_truncated.jpg', 'truncated')):
    assert name in skipped and why in skipped
  assert converted.startswith('Converted 5 images')
  for kind in ('1 16-bit', '1 CMYK', '1 RGBA', '1 greyscale', '1 palette'):
    assert kind in converted
  assert upscaled.startswith('Upscaled 1 images') and 'g_tiny.png' in upscaled
  images = source.load(np.arange(8))
  assert images.shape == (8, 32, 32, 3) and images.dtype == np.uint8
  means = images.reshape(8, -1).mean(axis=1)
  assert means[2] == 255  # transparent pixels composited onto white
  # 16-bit 30000 of 65535 -> 117, not clipped to 255.
  assert means[4] == pytest.approx(30000 / 65535 * 255, abs=1)


def test_huge_jpeg_decodes_at_a_reduced_scale(messy_folder):
  with ip._open_reduced(str(messy_folder / 'h_huge.jpg'), 32) as image:  # pylint: disable=protected-access
    assert image.size == (200, 150)  # 1/8 of 1600x1200, still >= 32


def test_folder_of_only_bad_files_fails_naming_it(tmp_path):
  (tmp_path / 'empty.jpg').write_bytes(b'')
  (tmp_path / 'text.png').write_text('x')
  with pytest.raises(ip.DataError, match=f"{tmp_path}' holds no usable"):
    ip.make_source(f'folder:{tmp_path}', 32, 1)


def test_file_changed_after_the_check_is_an_error_not_a_skip(tmp_path):
  Image.fromarray(np.zeros((40, 40), np.uint8), 'L').save(tmp_path / 'a.png')
  Image.fromarray(np.zeros((40, 40), np.uint8), 'L').save(tmp_path / 'b.png')
  source = ip.make_source(f'folder:{tmp_path}', 32, 1)
  (tmp_path / 'b.png').write_bytes(b'')
  with pytest.raises(ip.DataError, match='b.png'):
    source.load(np.array([0, 1]))
