import logging
import os

import numpy as np
import pytest
from PIL import Image

from gan_jax.data import order
from gan_jax.data import sources


@pytest.fixture(scope='module')
def digits():
  return sources.make_source('digits', 32, 1)


def test_digits_source(digits):
  assert digits.num_examples == 1797
  images = digits.load(np.arange(5))['image']
  assert digits.features == {'image': ((32, 32, 1), np.uint8)}
  assert digits.image_shape == (32, 32, 1) and digits.num_classes == 0
  assert images.shape == (5, 32, 32, 1) and images.dtype == np.uint8
  assert images.min() == 0 and images.max() == 255


def test_digits_three_channels_replicate_grey():
  images = sources.make_source('digits', 32, 3).load(np.arange(2))['image']
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
    source = sources.make_source(f'folder:{tmp_path}', 32, 3)
  assert source.num_examples == 3  # a.png, sub/b.JPG, sub/deeper/c.png
  assert 'Skipped 1 of 4' in caplog.text and 'broken.jpg' in caplog.text
  images = source.load(np.arange(3))['image']
  assert images.shape == (3, 32, 32, 3) and images.dtype == np.uint8
  grey = sources.make_source(f'folder:{tmp_path}', 64, 1).load(np.array([0]))
  grey = grey['image']
  assert grey.shape == (1, 64, 64, 1)


def test_folder_source_centre_crops(tmp_path):
  # A wide image: left third black, middle white, right third black.
  pixels = np.zeros((30, 90), np.uint8)
  pixels[:, 30:60] = 255
  Image.fromarray(pixels, 'L').save(tmp_path / 'wide.png')
  image = sources.make_source(f'folder:{tmp_path}', 32, 1).load(
      np.array([0]))['image'][0]
  assert image[:, 4:28].min() > 200  # only the white middle survives


@pytest.mark.parametrize('source,match', [
    ('folder:/no/such/dir', 'does not exist'),
    ('imagenet', r"'digits\[SPLIT\]' \(SPLIT train or test; none: all\), "
     r"'folder:PATH', 'tfds:NAME\[SPLIT\]' or 'attributes:PATH'"),
    ('digits[val]', r"data.source must be 'digits\[SPLIT\]'"),
    ('attributes:/no/such/dir', 'does not exist'),
])
def test_bad_sources(source, match):
  with pytest.raises(sources.DataError, match=match):
    sources.make_source(source, 32, 1)


def test_empty_folder(tmp_path):
  (tmp_path / 'readme.md').write_text('x')
  with pytest.raises(sources.DataError, match='no usable'):
    sources.make_source(f'folder:{tmp_path}', 32, 1)


def _indices_source(n):
  """A source whose 'image' is its own index, to read the order directly."""
  return sources.Source('ids', n, {'image': ((1, 1, 1), np.dtype(np.uint8))},
                   lambda idx: {'image': np.asarray(idx, np.uint8).reshape(
                       -1, 1, 1, 1)})


def _ids(batches):
  return [b['image'].reshape(b['image'].shape[:2]) for b in batches]


def test_order_is_per_epoch_permutation_and_seeded():
  source = _indices_source(50)  # 5 batches of 10 per epoch
  run = _ids(order.train_batches(source, seed=3, batch_size=10, d_steps=1,
                                 num_steps=10))
  epoch0 = np.concatenate([b[0] for b in run[:5]])
  epoch1 = np.concatenate([b[0] for b in run[5:]])
  assert sorted(epoch0) == sorted(epoch1) == list(range(50))
  assert not np.array_equal(epoch0, epoch1)
  other_seed = _ids(order.train_batches(source, seed=4, batch_size=10,
                                        d_steps=1, num_steps=5))
  assert not np.array_equal(np.concatenate(other_seed), np.concatenate(run[:5]))


def test_resume_sees_the_same_batches_and_k_fresh_batches_per_step():
  source = _indices_source(64)
  kwargs = dict(seed=0, batch_size=8, d_steps=2, num_steps=12)
  full = _ids(order.train_batches(source, **kwargs))
  assert len(full) == 12 and full[0].shape == (2, 8)
  assert len(np.unique(full[0])) == 16  # k distinct minibatches
  resumed = _ids(order.train_batches(source, start_step=7, **kwargs))
  assert len(resumed) == 5
  for a, b in zip(full[7:], resumed):
    np.testing.assert_array_equal(a, b)


def test_processes_split_each_global_batch():
  source = _indices_source(48)
  kwargs = dict(seed=1, batch_size=8, d_steps=1, num_steps=6)
  whole = _ids(order.train_batches(source, **kwargs))
  parts = [_ids(order.train_batches(source, process_index=p, process_count=2,
                                    **kwargs)) for p in (0, 1)]
  for step, batch in enumerate(whole):
    np.testing.assert_array_equal(
        batch, np.concatenate([parts[0][step], parts[1][step]], axis=1))


def test_batch_larger_than_dataset():
  with pytest.raises(sources.DataError, match='larger than'):
    next(order.train_batches(_indices_source(5), seed=0, batch_size=8,
                             d_steps=1, num_steps=1))


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
  source = sources.make_source(spec, 32, channels)
  assert (source.name, source.num_examples) == (name, 20)
  images = source.load(np.array([3, 0, 19]))['image']
  assert images.shape == (3, 32, 32, channels) and images.dtype == np.uint8


def test_tfds_process_shards_are_disjoint_and_cover_the_split(mock_tfds):
  source = sources.make_source('tfds:mnist', 32, 1)
  seen = {0: [], 1: []}
  for process in (0, 1):
    recording = sources.Source(
        source.name, source.num_examples, source.features,
        lambda idx, p=process: (seen[p].append(idx.copy()), source.load(idx))[1])
    # One epoch of 5 global batches of 4: each process decodes 2 rows of each.
    batches = list(order.train_batches(recording, seed=0, batch_size=4,
                                       d_steps=1, num_steps=5, num_threads=1,
                                       process_index=process, process_count=2))
    assert [b['image'].shape for b in batches] == [(1, 2, 32, 32, 1)] * 5
  first, second = np.concatenate(seen[0]), np.concatenate(seen[1])
  assert not set(first) & set(second)
  assert sorted([*first, *second]) == list(range(20))


@pytest.mark.parametrize('spec,match', [
    ('tfds:', 'needs a dataset name'), ('tfds:mnist[train', 'tfds:NAME'),
    ('tfds:no_such_dataset_xyz', "cannot open data.source 'tfds:no_such")])
def test_bad_tfds_sources(spec, match):
  pytest.importorskip('tensorflow_datasets')
  with pytest.raises(sources.DataError, match=match):
    sources.make_source(spec, 32, 1)


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
    source = sources.make_source(f'folder:{messy_folder}', 32, 3)
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
  images = source.load(np.arange(8))['image']
  assert images.shape == (8, 32, 32, 3) and images.dtype == np.uint8
  means = images.reshape(8, -1).mean(axis=1)
  assert means[2] == 255  # transparent pixels composited onto white
  # 16-bit 30000 of 65535 -> 117, not clipped to 255.
  assert means[4] == pytest.approx(30000 / 65535 * 255, abs=1)


def test_huge_jpeg_decodes_at_a_reduced_scale(messy_folder):
  with sources.open_reduced(str(messy_folder / 'h_huge.jpg'), 32) as image:
    assert image.size == (200, 150)  # 1/8 of 1600x1200, still >= 32


def test_folder_of_only_bad_files_fails_naming_it(tmp_path):
  (tmp_path / 'empty.jpg').write_bytes(b'')
  (tmp_path / 'text.png').write_text('x')
  with pytest.raises(sources.DataError, match=f"{tmp_path}' holds no usable"):
    sources.make_source(f'folder:{tmp_path}', 32, 1)


def test_file_changed_after_the_check_is_an_error_not_a_skip(tmp_path):
  Image.fromarray(np.zeros((40, 40), np.uint8), 'L').save(tmp_path / 'a.png')
  Image.fromarray(np.zeros((40, 40), np.uint8), 'L').save(tmp_path / 'b.png')
  source = sources.make_source(f'folder:{tmp_path}', 32, 1)
  (tmp_path / 'b.png').write_bytes(b'')
  with pytest.raises(sources.DataError, match='b.png'):
    source.load(np.array([0, 1]))


# Labels, attributes and dict batches.


def test_digits_labels_match_sklearn_target():
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  source = sources.make_source('digits', 8, 1, labels=True)
  assert source.class_names == tuple('0123456789') and source.num_classes == 10
  assert source.features['label'] == ((), np.int32)
  indices = np.array([1796, 0, 5, 42, 5])
  examples = source.load(indices)
  assert examples['label'].dtype == np.int32
  np.testing.assert_array_equal(examples['label'],
                                datasets.load_digits().target[indices])
  np.testing.assert_array_equal(
      examples['image'], sources.make_source('digits', 8, 1).load(indices)['image'])


def _write_grey(path, value, size=(12, 10)):
  os.makedirs(path.parent, exist_ok=True)
  Image.fromarray(np.full(size, value, np.uint8), 'L').save(path)


def _write_classes(root):
  """cats: 2 images, dogs: 1, emus: 1 (nested); grey level 40 * (class + 1)."""
  for rel, label in (('cats/a.png', 0), ('cats/b.png', 0), ('dogs/c.png', 1),
                     ('emus/sub/d.png', 2)):
    _write_grey(root / rel, 40 * (label + 1))
  (root / 'README.txt').write_text('not an image, not a class')


def test_labelled_folder_one_subfolder_per_class(tmp_path):
  _write_classes(tmp_path)
  source = sources.make_source(f'folder:{tmp_path}', 8, 1, labels=True)
  assert source.class_names == ('cats', 'dogs', 'emus')
  assert source.num_examples == 4 and source.num_classes == 3
  assert set(source.features) == {'image', 'label'}
  examples = source.load(np.array([3, 0, 2, 1]))
  np.testing.assert_array_equal(examples['label'], [2, 0, 1, 0])
  assert examples['label'].dtype == np.int32
  np.testing.assert_array_equal(examples['image'].reshape(4, -1).mean(1),
                                40 * (examples['label'] + 1))
  # Without labels the same folder is read recursively, as before.
  plain = sources.make_source(f'folder:{tmp_path}', 8, 1)
  assert plain.num_examples == 4 and set(plain.features) == {'image'}


def test_labelled_folder_stray_and_empty_are_one_error(tmp_path):
  _write_classes(tmp_path)
  _write_grey(tmp_path / 'stray.png', 0)
  os.makedirs(tmp_path / 'zebras')
  with pytest.raises(sources.DataError) as error:
    sources.make_source(f'folder:{tmp_path}', 8, 1, labels=True)
  message = str(error.value)
  assert 'stray.png' in message and 'directly' in message
  assert 'zebras' in message and str(tmp_path) in message
  sources.make_source(f'folder:{tmp_path}', 8, 1)  # fine without labels


_ATTRIBUTES = """4
Bald Male Young Smiling 
000001.jpg  1 -1  1 -1
000002.jpg -1  1 -1  1
000003.jpg -1 -1  1  1
000004.jpg  1  1 -1 -1
"""


def _write_celeba(root, image_dir='img_align_celeba', text=_ATTRIBUTES):
  """Listed 1..4; on disk 3, 1, 2 (grey 30, 10, 20; 4 missing) and an unlisted
  5. Tall like CelebA's faces: 10 wide, 12 high."""
  (root / 'list_attr_celeba.txt').write_text(text)
  for number in (3, 1, 2, 5):
    _write_grey(root / image_dir / f'00000{number}.jpg', 10 * number)


@pytest.mark.parametrize('image_dir', ['img_align_celeba', ''])
def test_attributes_source(tmp_path, caplog, image_dir):
  _write_celeba(tmp_path, image_dir)
  with caplog.at_level(logging.WARNING):
    source = sources.make_source(f'attributes:{tmp_path}', 8, 1,
                            attributes=('Young', 'Bald'))
  assert source.name == f'attributes:{tmp_path}'
  assert source.attribute_names == ('Young', 'Bald')
  assert source.features == {'image': ((8, 8, 1), np.uint8),
                             'attributes': ((2,), np.float32)}
  assert source.num_examples == 3
  examples = source.load(np.array([2, 0, 1]))
  assert examples['attributes'].dtype == np.float32
  np.testing.assert_array_equal(examples['attributes'],
                                [[1, 0], [1, 1], [0, 0]])  # files 3, 1, 2
  assert examples['image'].shape == (3, 8, 8, 1)
  np.testing.assert_allclose(examples['image'].reshape(3, -1).mean(1),
                             [30, 10, 20], atol=2)  # sorted by file name
  warnings_ = [r.getMessage() for r in caplog.records]
  assert len(warnings_) == 2
  assert warnings_[0].startswith('Skipped 1 of 4 images listed')
  assert '000004.jpg' in warnings_[0]
  assert warnings_[1].startswith('Skipped 1 images') and (
      '000005.jpg' in warnings_[1] and 'does not list' in warnings_[1])


def test_attributes_source_unknown_name(tmp_path):
  _write_celeba(tmp_path)
  with pytest.raises(sources.DataError, match='unknown attributes Blond_Hair, Nope'
                     r'.*valid names: Bald, Male, Young, Smiling$'):
    sources.make_source(f'attributes:{tmp_path}', 8, 1,
                   attributes=('Male', 'Blond_Hair', 'Nope'))


@pytest.mark.parametrize('old,new,line,why', [
    ('000002.jpg -1  1 -1  1', '000002.jpg -1  1 -1', 4, '3 values'),
    ('000003.jpg -1 -1  1  1', '000003.jpg -1  0  1  1', 5, "'0' is not"),
    ('4\n', '5\n', 1, 'says 5 images, the file lists 4'),
    ('000004.jpg', '000001.jpg', 6, 'listed again'),
])
def test_attributes_file_malformed_line(tmp_path, old, new, line, why):
  _write_celeba(tmp_path, text=_ATTRIBUTES.replace(old, new, 1))
  with pytest.raises(sources.DataError, match=f'list_attr_celeba.txt, line {line}: '
                     f'.*{why}'):
    sources.make_source(f'attributes:{tmp_path}', 8, 1, attributes=('Male',))


@pytest.mark.parametrize('source,kwargs,match', [
    ('digits', dict(attributes=('Male',)), "data.source 'digits' has no attr"),
    ('folder:/x', dict(attributes='Male,Young'), 'has no attributes'),
    ('tfds:celeb_a', dict(attributes=('Male',)), 'has no attributes'),
    ('attributes:/x', dict(labels=True), "data.source 'attributes:/x' has no "
     'class labels'),
])
def test_fields_a_source_kind_cannot_give(source, kwargs, match):
  with pytest.raises(sources.DataError, match=match):
    sources.make_source(source, 8, 1, **kwargs)


def _labelled_indices_source(n):
  """'image' (2, 2, 1) filled with the example's index, 'label' index % 3."""
  return sources.Source(
      'labelled ids', n, {'image': ((2, 2, 1), np.dtype(np.uint8)),
                          'label': ((), np.dtype(np.int32))},
      lambda idx: {'image': np.repeat(np.asarray(idx, np.uint8), 4).reshape(
          -1, 2, 2, 1), 'label': (np.asarray(idx) % 3).astype(np.int32)},
      class_names=('a', 'b', 'c'))


def test_train_batches_of_dicts_keep_the_order():
  n, seed, batch_size, d_steps = 53, 5, 12, 2
  batches = list(order.train_batches(
      _labelled_indices_source(n), seed=seed, batch_size=batch_size,
      d_steps=d_steps, num_steps=3))
  assert len(batches) == 3
  for batch in batches:
    assert set(batch) == {'image', 'label'}
    assert batch['image'].shape == (2, 12, 2, 2, 1)
    assert batch['label'].shape == (2, 12) and batch['label'].dtype == np.int32
  # The documented order: epoch e is grain's shuffle seeded by seed + e, cut
  # into 4 batches of 12 (5 dropped); step t takes batches 2t and 2t + 1.
  import grain  # pylint: disable=g-import-not-at-top
  epochs = [np.array(list(grain.MapDataset.range(n).shuffle(seed=seed + e)))
            for e in range(2)]
  expected = np.stack([epochs[j // 4][(j % 4) * 12:(j % 4 + 1) * 12]
                       for j in range(6)]).reshape(3, 2, 12)
  for batch, indices in zip(batches, expected):
    np.testing.assert_array_equal(batch['image'][..., 0, 0, 0], indices)
    np.testing.assert_array_equal(batch['label'], indices % 3)


def test_order_is_bit_identical_to_the_image_only_pipeline():
  # Recorded from the image-only train_batches this module replaced.
  kwargs = dict(seed=7, batch_size=4, d_steps=2, num_steps=5)
  whole = _ids(order.train_batches(_indices_source(23), **kwargs))
  np.testing.assert_array_equal(whole, [
      [[4, 13, 20, 7], [2, 9, 6, 22]], [[1, 18, 8, 19], [14, 16, 0, 12]],
      [[11, 17, 5, 15], [17, 21, 10, 20]], [[9, 16, 12, 2], [13, 8, 6, 0]],
      [[11, 4, 1, 19], [14, 5, 7, 3]]])
  second = _ids(order.train_batches(_indices_source(23), process_index=1,
                                    process_count=2, **kwargs))
  np.testing.assert_array_equal(second, [
      [[20, 7], [6, 22]], [[8, 19], [0, 12]], [[5, 15], [10, 20]],
      [[12, 2], [6, 0]], [[1, 19], [7, 3]]])


def test_tfds_labels(mock_tfds):
  source = sources.make_source('tfds:mnist', 8, 1, labels=True)
  assert source.class_names == tuple('0123456789')
  batch = next(order.train_batches(source, seed=0, batch_size=4, d_steps=1,
                                   num_steps=1, num_threads=1))
  assert batch['image'].shape == (1, 4, 8, 8, 1)
  assert batch['label'].shape == (1, 4) and batch['label'].dtype == np.int32
  labels = source.load(np.array([0, 7]))['label']
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  data = tfds.data_source('mnist', split='train')
  np.testing.assert_array_equal(labels, [data[0]['label'], data[7]['label']])


def test_tfds_without_label_feature(mock_tfds):
  with pytest.raises(sources.DataError, match="'tfds:celeb_a' has no 'label'"):
    sources.make_source('tfds:celeb_a', 8, 3, labels=True)
