"""Paired (pix2pix) sources: digits_edges, AB files, folder pairs, bad input."""

import logging
import os

import numpy as np
import pytest
from PIL import Image

from gan_jax.data import paired
from gan_jax.data import sources


def test_digits_edges_split_fields_and_edges():
  edges, digits, labels = paired.digits_edges()
  assert edges.shape == digits.shape == (1797, 32, 32, 1)
  assert edges.dtype == digits.dtype == np.uint8 and labels.dtype == np.int32
  mask = digits[..., 0] >= 128
  drawn = edges[..., 0] > 0
  assert set(np.unique(edges)) == {0, 255}
  assert not (drawn & ~mask).any()  # the edge lies inside the digit
  assert drawn.reshape(1797, -1).any(axis=1).all()  # every digit has one
  assert (drawn.sum((1, 2)) < mask.sum((1, 2))).all()  # not the whole mask

  train_idx, test_idx = sources.digits_split(1797)
  train = paired.make_paired_source('digits_edges', 'train', 32, 1, 1)
  test = paired.make_paired_source('digits_edges', 'test', 32, 1, 1)
  assert train.num_examples + test.num_examples == 1797
  assert (train.num_examples, test.num_examples) == (len(train_idx),
                                                     len(test_idx))
  assert not set(train_idx) & set(test_idx)
  assert train.name == 'digits_edges[train]'
  assert test.features == {'input': ((32, 32, 1), np.dtype(np.uint8)),
                           'image': ((32, 32, 1), np.dtype(np.uint8)),
                           'label': ((), np.dtype(np.int32))}
  batch = test.load(np.arange(test.num_examples))
  np.testing.assert_array_equal(batch['input'], edges[test_idx])
  np.testing.assert_array_equal(batch['image'], digits[test_idx])
  np.testing.assert_array_equal(batch['label'], labels[test_idx])
  assert batch['label'].dtype == np.int32
  np.testing.assert_array_equal(train.load(np.arange(4))['label'],
                                labels[train_idx[:4]])

  # Resized, three channels, swapped.
  swapped = paired.make_paired_source('digits_edges', 'test', 16, 3, 1,
                                      direction='BtoA')
  batch = swapped.load(np.array([0, 1]))
  assert batch['input'].shape == (2, 16, 16, 3)
  assert batch['image'].shape == (2, 16, 16, 1)
  np.testing.assert_array_equal(batch['input'][..., 0], batch['input'][..., 2])
  assert swapped.image_shape == (16, 16, 1)
  # The digit (input) has more white than its edge map (image).
  assert (batch['input'][..., 0].astype(int).sum((1, 2))
          > batch['image'][..., 0].astype(int).sum((1, 2))).all()
  assert paired.eval_spec('digits_edges') == 'digits_edges'


def _ab(path, left, right, size=(16, 8)):
  """Saves an AB file: ``left`` colour on the left half, ``right`` on the
  right one."""
  w, h = size
  pixels = np.zeros((h, w, 3), np.uint8)
  pixels[:, :w // 2] = left
  pixels[:, w // 2:] = right
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(pixels).save(path)
  return pixels


def test_ab_folder_halves_direction_and_splits(tmp_path):
  colours = [((10 + 40 * k, 0, 0), (0, 0, 20 + 60 * k)) for k in range(3)]
  for k, (left, right) in enumerate(colours):
    _ab(str(tmp_path / 'train' / f'{k}.png'), left, right)
  # A non-square test file (halves 12x8) whose A has a white stripe at its
  # left edge: squashing keeps it, a centre crop would cut it off.
  pixels = _ab(str(tmp_path / 'test' / 'x.png'), (0, 0, 0), (90, 90, 90),
               size=(24, 8))
  pixels[:, :2] = 255
  Image.fromarray(pixels).save(tmp_path / 'test' / 'x.png')
  spec = f'paired:{tmp_path}'
  assert paired.eval_spec(spec) == spec

  train = paired.make_paired_source(spec, 'train', 12, 3, 3)
  assert train.num_examples == 3 and train.name == f'{spec}[train]'
  assert train.features == {'input': ((12, 12, 3), np.dtype(np.uint8)),
                            'image': ((12, 12, 3), np.dtype(np.uint8))}
  batch = train.load(np.array([2, 0, 1]))
  assert batch['input'].shape == batch['image'].shape == (3, 12, 12, 3)
  for row, k in enumerate([2, 0, 1]):
    left, right = colours[k]
    assert (batch['input'][row] == left).all()
    assert (batch['image'][row] == right).all()

  swapped = paired.make_paired_source(spec, 'train', 12, 1, 3,
                                      direction='BtoA').load(np.array([1]))
  assert swapped['input'].shape == (1, 12, 12, 1)
  assert (swapped['image'][0] == colours[1][0]).all()
  grey = np.round(0.114 * colours[1][1][2])  # PIL's L of (0, 0, b)
  assert (np.abs(swapped['input'][0].astype(int) - grey) <= 1).all()

  test = paired.make_paired_source(spec, 'test', 12, 3, 3)
  assert test.num_examples == 1 and test.name == f'{spec}[test]'
  batch = test.load(np.array([0]))
  assert (batch['input'][0, :, 0] > 200).all()  # the stripe survived
  assert (batch['input'][0, :, -1] < 30).all()
  assert (batch['image'][0] == 90).all()

  # pix2pix's facades layout: val/ stands in for a missing test/.
  os.rename(tmp_path / 'test', tmp_path / 'val')
  assert paired.make_paired_source(spec, 'test', 12, 3, 3).num_examples == 1
  os.rename(tmp_path / 'val', tmp_path / 'elsewhere')
  with pytest.raises(sources.DataError, match='test'):
    paired.make_paired_source(spec, 'test', 12, 3, 3)

  # Without train/, the folder itself is training data and has no test set.
  flat = f'paired:{tmp_path / "train"}'
  assert paired.eval_spec(flat) is None
  assert paired.make_paired_source(flat, 'train', 8, 3, 3).num_examples == 3
  with pytest.raises(sources.DataError, match='no .test. split'):
    paired.make_paired_source(flat, 'test', 8, 3, 3)


def _warnings(caplog):
  return [r.getMessage() for r in caplog.records
          if r.levelno == logging.WARNING]


def test_ab_folder_skips_and_counts_bad_files(tmp_path, caplog):
  _ab(str(tmp_path / 'good.png'), (200, 0, 0), (0, 200, 0))
  _ab(str(tmp_path / 'sub' / 'odd.png'), (1, 1, 1), (2, 2, 2), size=(15, 8))
  (tmp_path / 'garbage.jpg').write_bytes(b'\xff\xd8 not really a jpeg')
  (tmp_path / 'empty.png').write_bytes(b'')
  (tmp_path / 'notes.txt').write_text('not an image, not a candidate')
  with caplog.at_level(logging.WARNING):
    source = paired.make_paired_source(f'paired:{tmp_path}', 'train', 8, 3, 3)
  assert source.num_examples == 1
  assert (source.load(np.array([0]))['input'] == (200, 0, 0)).all()
  messages = _warnings(caplog)
  odd = [m for m in messages if 'odd' in m]
  assert len(odd) == 1 and odd[0].startswith('Skipped 1 of 4')
  assert 'odd.png (15x8)' in odd[0]
  bad = [m for m in messages if 'not usable' in m]
  assert len(bad) == 1 and bad[0].startswith('Skipped 2 of 4')
  assert 'garbage.jpg' in bad[0] and 'empty.png' in bad[0]

  # A file that breaks after the check is an error naming it, never a skip.
  (tmp_path / 'good.png').write_bytes(b'broken now')
  with pytest.raises(sources.DataError, match='good.png'):
    source.load(np.array([0]))

  # Nothing usable: an error naming the folder.
  with pytest.raises(sources.DataError, match='no usable AB image'):
    paired.make_paired_source(f'paired:{tmp_path}', 'train', 8, 3, 3)


def _solid(path, colour, size=(8, 8), mode='RGB'):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.new(mode, size, colour).save(path)


def test_folder_pairs_match_by_name_and_skip_bad_pairs(tmp_path, caplog):
  a, b = tmp_path / 'A', tmp_path / 'B'
  _solid(str(a / 'p.png'), (100, 0, 0))
  _solid(str(b / 'p.jpg'), (0, 255, 0))  # another extension: still a pair
  _solid(str(a / 'sub' / 'q.png'), (50, 0, 0))
  _solid(str(b / 'sub' / 'q.png'), (0, 0, 150))
  _solid(str(a / 'only_a.png'), 0)
  _solid(str(b / 'only_b.png'), 0)
  _solid(str(a / 'wide.png'), 0, size=(10, 8))  # sizes differ: not aligned
  _solid(str(b / 'wide.png'), 0)
  (a / 'broken.png').write_bytes(b'garbage')
  _solid(str(b / 'broken.png'), 0)
  spec = f'paired:{a},{b}'
  assert paired.eval_spec(spec) is None
  with caplog.at_level(logging.WARNING):
    source = paired.make_paired_source(spec, 'train', 4, 3, 3)
  assert source.num_examples == 2 and source.name == f'{spec}[train]'
  batch = source.load(np.array([0, 1]))  # sorted: p, sub/q
  assert (batch['input'][0] == (100, 0, 0)).all()
  assert (np.abs(batch['image'][0].astype(int) - (0, 255, 0)) <= 3).all()
  assert (batch['input'][1] == (50, 0, 0)).all()
  assert (batch['image'][1] == (0, 0, 150)).all()

  messages = _warnings(caplog)
  unmatched = [m for m in messages if 'no file of the same name' in m]
  assert len(unmatched) == 1 and unmatched[0].startswith('Skipped 2 images')
  assert 'only_a' in unmatched[0] and 'only_b' in unmatched[0]
  sized = [m for m in messages if 'differ in size' in m]
  assert len(sized) == 1 and sized[0].startswith('Skipped 1 of 4 pairs')
  assert 'wide (A 10x8, B 8x8)' in sized[0]
  bad = [m for m in messages if 'not a usable image' in m]
  assert len(bad) == 1 and bad[0].startswith('Skipped 1 of 4 pairs')
  assert 'broken.png' in bad[0]
  swapped = paired.make_paired_source(spec, 'train', 4, 3, 1,
                                      direction='BtoA').load(np.array([1]))
  assert (swapped['input'][0] == (0, 0, 150)).all()
  assert swapped['image'].shape == (1, 4, 4, 1)

  # The train/ + test/ layout on both sides.
  for side, name in ((a, 'p.png'), (b, 'p.jpg')):
    os.makedirs(side / 'train')
    os.rename(side / name, side / 'train' / name)
    os.rename(side / 'sub', side / 'test')
  assert paired.eval_spec(spec) == spec
  assert paired.make_paired_source(spec, 'train', 4, 3, 3).num_examples == 1
  test = paired.make_paired_source(spec, 'test', 4, 3, 3)
  assert test.num_examples == 1 and test.name == f'{spec}[test]'

  # No name in common: an error with examples from each side.
  c, d = tmp_path / 'C', tmp_path / 'D'
  _solid(str(c / 'x.png'), 0)
  _solid(str(d / 'y.png'), 0)
  with pytest.raises(sources.DataError,
                     match=r'no image names in common.*x.*y'):
    paired.make_paired_source(f'paired:{c},{d}', 'train', 4, 3, 3)


@pytest.mark.parametrize('spec, kwargs, match', [
    ('digits', {}, 'data.source'),
    ('folder:/tmp', {}, 'data.source'),
    ('paired:', {}, 'empty folder path'),
    ('paired:a,b,c', {}, '3 folders'),
    ('paired:/no/such/folder', {}, '/no/such/folder'),
    ('digits_edges', {'direction': 'AB'}, 'data.direction.*AtoB, BtoA'),
    ('digits_edges', {'load_size': 0}, 'load_size'),
    ('digits_edges', {'input_channels': 2}, 'input_channels'),
    ('digits_edges', {'split': 'val'}, 'split'),
])
def test_bad_arguments_are_data_errors(spec, kwargs, match):
  args = {'split': 'train', 'load_size': 8, 'input_channels': 1,
          'target_channels': 1, **kwargs}
  with pytest.raises(sources.DataError, match=match):
    paired.make_paired_source(spec, **args)
