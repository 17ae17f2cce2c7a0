"""StarGAN: the networks against the reference's layout, its target rule and
CelebA split, the digits domains, a tiny run (the n_critic update, its
evaluation) and the translate mode."""

import importlib.util
import os
import random

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest
from PIL import Image

from gan_jax import families, losses, modes
from gan_jax.core import errors
from gan_jax.core import state as state_lib
from gan_jax.data import sources
from gan_jax.eval import translation
from gan_jax.families.stargan import domains, models
from gan_jax.families.stargan import family as stargan_family
from gan_jax.families.stargan import step as stargan_step

KEY = jax.random.PRNGKey(0)
HAIR = ('Black_Hair', 'Blond_Hair', 'Brown_Hair', 'Gray_Hair')
NAMES = ('Black_Hair', 'Blond_Hair', 'Brown_Hair', 'Male', 'Young')


def test_networks_have_the_reference_layout():
  # yunjey/stargan's Generator(64, 5, 6) and Discriminator(S, 64, 5, 6):
  # 8,430,528 and (at 64 px) 44,731,328 parameters; D_src is 1x1 at 64 px
  # and 2x2 at 128, D_cls one logit per attribute.
  g, d = models.Generator(), models.Discriminator(5)
  for size, d_count, src_side in ((64, 44_731_328, 1), (128, 44_762_048, 2)):
    x, c = jnp.zeros((2, size, size, 3)), jnp.zeros((2, 5))
    g_shapes = jax.eval_shape(g.init, KEY, x, c)
    d_shapes = jax.eval_shape(d.init, KEY, x)
    count = lambda t: sum(a.size for a in jax.tree.leaves(t))  # noqa: E731
    assert count(g_shapes) == 8_430_528 and count(d_shapes) == d_count
    src, cls = jax.eval_shape(d.apply, d_shapes, x)
    assert src.shape == (2, src_side, src_side) and cls.shape == (2, 5)
    assert jax.eval_shape(g.apply, g_shapes, x, c).shape == x.shape


def test_gradient_penalty_differentiates_through_the_fast_layers():
  # WGAN-GP's loss is a gradient; its own gradient (double backprop) must
  # go through the matrix-product convolutions' custom VJPs as through XLA's.
  x = jax.random.uniform(KEY, (3, 16, 16, 3), minval=-1, maxval=1)
  fake = jax.random.uniform(jax.random.PRNGKey(1), x.shape, minval=-1,
                            maxval=1)
  grads = {}
  for impl in ('lax', 'matmul'):
    d = models.Discriminator(2, base_width=4, num_layers=3, conv_impl=impl)
    params = jax.jit(d.init)(KEY, x)['params']

    def penalty(p, d=d):
      return losses.gradient_penalty(
          lambda h: jnp.sum(d.apply({'params': p}, h)[0].reshape(3, -1), 1),
          x, fake, jax.random.PRNGKey(2))

    grads[impl] = jax.jit(jax.grad(penalty))(params)
  for a, b in zip(jax.tree.leaves(grads['lax']),
                  jax.tree.leaves(grads['matmul'])):
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6 * float(
        jnp.max(jnp.abs(a))))


def test_target_labels_are_create_labels():
  labels = np.array([[1, 0, 0, 1, 0], [0, 0, 0, 0, 1]], np.float32)
  targets = domains.target_labels(labels, NAMES, HAIR)
  assert targets.shape == (5, 2, 5)
  # A hair colour is set one-hot (the others of the group cleared), the
  # rest of the vector kept; Male and Young are flipped.
  np.testing.assert_array_equal(targets[1], [[0, 1, 0, 1, 0],
                                             [0, 1, 0, 0, 1]])
  np.testing.assert_array_equal(targets[3], [[1, 0, 0, 0, 0],
                                             [0, 0, 0, 1, 1]])
  np.testing.assert_array_equal(targets[4][:, 4], [1, 0])
  wanted = domains.set_attributes(labels, NAMES, HAIR,
                                  {'Brown_Hair': 1.0, 'Male': 0.0})
  np.testing.assert_array_equal(wanted, [[0, 0, 1, 0, 0], [0, 0, 1, 0, 1]])


def test_celeba_split_is_the_references(tmp_path):
  names = [f'{i:06d}.jpg' for i in range(1, 13)]
  rows = [f'{n} {"1" if i % 2 else "-1"} -1' for i, n in enumerate(names)]
  (tmp_path / 'list_attr_celeba.txt').write_text(
      '12\nMale Young\n' + '\n'.join(rows) + '\n')
  for i, name in enumerate(names):
    Image.fromarray(np.full((12, 10, 3), 20 * i, np.uint8)).save(
        tmp_path / name)
  # data_loader.py of the reference, with 5 where it has 2000 - 1.
  lines = list(rows)
  random.seed(1234)
  random.shuffle(lines)
  expected_test = sorted(line.split()[0] for line in lines[:5])
  test = domains.make_source(f'attributes:{tmp_path}', 'test', 8, 3,
                             ('Male',), 5)
  train = domains.make_source(f'attributes:{tmp_path}', 'train', 8, 3,
                              ('Male',), 5)
  assert (test.num_examples, train.num_examples) == (5, 7)
  grey = test.load(np.arange(5))['image'][:, 0, 0, 0]
  assert sorted(names[int(round(v / 20))] for v in grey) == expected_test
  with pytest.raises(sources.DataError, match='lists 12 images, fewer than '
                     'the 13 of the test split'):
    domains.make_source(f'attributes:{tmp_path}', 'test', 8, 3, ('Male',), 13)


def test_digits_domains_have_known_translations():
  names = domains.DIGITS_COLOURS + domains.DIGITS_TRANSFORMS
  grey, labels, _ = domains.digits_domains('test', 16, names)
  assert len(grey) == 359 and labels.shape == (359, 5)
  assert np.all(labels[:, :3].sum(1) == 1)  # one colour each
  # All twelve domains occur.
  assert len({tuple(row) for row in labels}) == 12
  # A digit keeps its colour and polarity whichever transforms are named.
  _, inverted_only, _ = domains.digits_domains(
      'test', 16, domains.DIGITS_COLOURS + ('Inverted',))
  np.testing.assert_array_equal(inverted_only, labels[:, [0, 1, 2, 4]])
  images = domains.render(grey, labels, names)
  bold, inverted = labels[:, 3] > 0.5, labels[:, 4] > 0.5
  ink = images.max(-1).astype(float) / domains.COLOURS.max(-1)[
      np.argmax(labels[:, :3], -1)][:, None, None]
  ink = np.where(inverted[:, None, None], 1 - ink, ink) * 255
  # Plain strokes are the digit; bold ones its 3x3 maximum at 16 px.
  plain = grey[..., 0].astype(float)
  padded = np.pad(plain, ((0, 0), (1, 1), (1, 1)))
  dilated = np.max([padded[:, i:i + 16, j:j + 16] for i in range(3)
                    for j in range(3)], 0)
  assert np.abs(ink[~bold] - plain[~bold]).max() <= 2.5
  assert np.abs(ink[bold] - dilated[bold]).max() <= 2.5
  assert np.mean(dilated[bold] - plain[bold]) > 20  # visibly bolder
  with pytest.raises(sources.DataError, match='data.attributes must be '
                     'Red,Green,Blue followed by one or more of '
                     'Bold,Inverted'):
    domains.digits_domains('test', 16, ('Red', 'Green', 'Blue', 'Inverted',
                                        'Bold'))


_TINY = {'image_size': 8, 'model.base_width': 2, 'model.d_base_width': 2,
         'model.num_blocks': 1, 'model.d_layers': 3, 'model.conv_impl': 'lax',
         'batch_size': 4, 'd_steps': 2, 'num_train_steps': 4,
         'num_sample_images': 2, 'log_every_steps': 2,
         'checkpoint_every_steps': 4, 'data.num_workers': 1,
         'eval_num_images': 40, 'eval_classifier_steps': 200}


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
  import stargan  # configs/stargan.py  # pylint: disable=g-import-not-at-top
  config = stargan.get_config()
  for field, value in _TINY.items():
    parent, _, name = field.rpartition('.')
    (config[parent] if parent else config)[name] = value
  workdir = str(tmp_path_factory.mktemp('stargan'))
  summary = modes.run(config, workdir)
  return config, workdir, summary


def test_identity_term_is_l1_of_g_under_the_inputs_own_labels():
  # identity_weight (not the reference's; CycleGAN's) adds identity_weight
  # * lambda_rec * |G(x, c) - x|_1 to G's loss and nothing to D's. Players
  # of one layer each: a small compile.

  class Generator(nn.Module):

    @nn.compact
    def __call__(self, x, labels):
      tiled = jnp.broadcast_to(labels[:, None, None], x.shape[:3] + (
          labels.shape[-1],))
      return jnp.tanh(nn.Conv(3, (1, 1))(jnp.concatenate([x, tiled], -1)))

  class Discriminator(nn.Module):

    @nn.compact
    def __call__(self, x):
      flat = x.reshape(x.shape[0], -1)
      return nn.Dense(1)(flat).reshape(-1, 1, 1), nn.Dense(4)(flat)

  g, d, tx = Generator(), Discriminator(), optax.adam(1e-2)
  rng = np.random.default_rng(0)
  batch = {'image': rng.integers(0, 256, (1, 4, 8, 8, 3), dtype=np.uint8),
           'attributes': rng.integers(0, 2, (1, 4, 4)).astype(np.float32)}
  x = batch['image'][0].astype(np.float32) / 127.5 - 1
  labels = batch['attributes'][0]
  players = {'g': state_lib.make_player(g.init(KEY, x, labels), tx),
             'd': state_lib.make_player(d.init(KEY, x), tx)}
  before = state_lib.new_state(KEY, players)
  results = {}
  for weight in (0.0, 0.5):
    train_step = stargan_step.make_train_step(
        g, d, tx, tx, gp_weight=10.0, classification_weight=1.0,
        reconstruction_weight=10.0, identity_weight=weight, flip=False)
    results[weight] = jax.jit(train_step)(before, batch)
  (without, plain), (with_identity, metrics) = results.values()
  assert 'g_identity' not in plain
  own = g.apply({'params': before.players['g'].params}, x, labels)
  np.testing.assert_allclose(metrics['g_identity'],
                             np.mean(np.abs(own - x)), rtol=1e-5)
  # D's update (before G's) is the same; G's differs.
  for player, same in (('d', True), ('g', False)):
    leaves = zip(jax.tree.leaves(without.players[player].params),
                 jax.tree.leaves(with_identity.players[player].params))
    assert all(np.array_equal(a, b) for a, b in leaves) == same, player


def test_tiny_digits_run_scores_every_target(tiny_run):
  config, workdir, summary = tiny_run
  assert summary['status'] == 'completed' and summary['step'] == 4
  for name in ('d_loss', 'd_cls', 'gradient_penalty', 'g_loss', 'g_cls',
               'g_rec', 'g_identity'):
    assert np.isfinite(summary[name]), name
  assert summary['gradient_penalty'] > 0
  # n_critic: each of the 4 steps updated D d_steps = 2 times, G once.
  path = os.path.join(workdir, 'checkpoints', '4', 'default')
  with ocp.StandardCheckpointer() as checkpointer:
    restored = checkpointer.restore(path)
  counts = {jax.tree_util.keystr(p): int(v) for p, v in
            jax.tree_util.tree_flatten_with_path(restored)[0]
            if 'count' in jax.tree_util.keystr(p)}
  assert counts and all(v == (8 if "['d']" in k else 4)
                        for k, v in counts.items()), counts
  scores = summary['eval']
  assert scores['eval_num_images'] == 40
  for name in config.data.attributes:
    assert 0 <= scores[f'target_accuracy_{name}'] <= 1
    assert 0 <= scores[f'source_rate_{name}'] <= 1
    assert scores[f'classifier_accuracy_{name}'] > 0.9, name
  # Bold is always flipped: no input already has its target, nor is any
  # input the known answer.
  assert scores['source_rate_Bold'] == 0
  assert scores['source_l1_Bold'] > 0 and scores['source_psnr_Bold'] < 100
  assert 0 < scores['l1'] < 2 and scores['psnr'] > 0
  np.testing.assert_allclose(
      np.mean([scores[f'l1_{name}'] for name in config.data.attributes]),
      scores['l1'])
  assert 0 < scores['reconstruction_l1'] < 2
  grids = os.listdir(os.path.join(workdir, 'eval'))
  assert any(name.startswith('test_grid_step_0000004') for name in grids)
  bad = config.copy_and_resolve_references()
  bad.image_size = 12  # not a multiple of 2^3
  with pytest.raises(errors.ConfigError, match='config.image_size'):
    families.get('stargan').validate(bad)


def test_translate_mode_sets_the_named_attributes(tiny_run, tmp_path,
                                                  monkeypatch):
  config, workdir, _ = tiny_run

  def training_source(*args):
    raise AssertionError('built the training source')

  # The run's evaluation cached the attribute classifier, so translating
  # reads no training data.
  monkeypatch.setattr(stargan_family.StarGAN, 'make_source', training_source)
  inputs = tmp_path / 'in'
  os.makedirs(inputs)
  Image.fromarray(np.full((30, 20, 3), 90, np.uint8)).save(inputs / 'x.png')
  (inputs / 'notes.txt').write_text('not an image')
  outputs = {}
  for wanted in ('Red', 'Blue,Bold=1'):
    config = config.copy_and_resolve_references()
    config.translate_attributes = wanted
    out = str(tmp_path / wanted)
    modes.run(config, workdir, 'translate', out, str(inputs))
    image = Image.open(os.path.join(out, 'x.png'))
    assert image.size == (20, 20)  # the centred square, translated
    outputs[wanted] = np.asarray(image)
  assert not np.array_equal(*outputs.values())
  config.translate_attributes = 'Red,Purple'
  with pytest.raises(errors.ConfigError, match="unknown attribute 'Purple'; "
                     'valid: Red, Green, Blue, Bold'):
    modes.run(config, workdir, 'translate', str(tmp_path / 'x'), str(inputs))


def _score_stargan_script():
  path = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'scripts',
                      'score_stargan.py')
  spec = importlib.util.spec_from_file_location('score_stargan', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_score_script_scores_files_as_evaluate_does(
    tmp_path, synthetic_inception_weights):
  # An identity "translator" written out in the reference's per-image
  # layout: every translation is its input, so each attribute's target
  # accuracy is exactly the classifier's rate on the inputs, and the
  # reconstruction error is 0. FID per target domain (one Inception pass
  # over the test set, subsets of its rows) equals FID against each
  # domain's real images on their own.
  import stargan  # configs/stargan.py  # pylint: disable=g-import-not-at-top
  data = tmp_path / 'celeba'
  os.makedirs(data)
  rng = np.random.default_rng(0)
  names = [f'{i:06d}.jpg' for i in range(1, 25)]
  rows = []
  for i, name in enumerate(names):
    blond, male = i % 2, (i // 2) % 2
    pixels = rng.integers(0, 60, (12, 10, 3), dtype=np.uint8)
    pixels[..., 0] += 150 * blond
    pixels[:6, ..., 2] += 150 * male
    Image.fromarray(pixels).save(data / name)
    rows.append(f'{name} {"-1 1" if blond else "1 -1"} '
                f'{"1" if male else "-1"}')
  (data / 'list_attr_celeba.txt').write_text(
      '24\nBlack_Hair Blond_Hair Male\n' + '\n'.join(rows) + '\n')
  # One test face does not decode: the source skips it, and so must the
  # script's list of the files it expects.
  broken = names[sources.split_rows(24, 8, 'test')[0]]
  (data / broken).write_bytes(b'not a jpeg')
  config = stargan.get_config('celeba')
  config.data.source = f'attributes:{data}'
  config.data.attributes = ('Black_Hair', 'Blond_Hair', 'Male')
  config.data.test_count = 8
  config.image_size, config.model.d_layers = 8, 3
  config.eval_metrics = ('target_accuracy', 'fid')
  config.eval_inception_weights = synthetic_inception_weights
  config.eval_batch_size = 2  # test_inception's batch: one shared compile
  config.eval_classifier_steps = 30
  script = _score_stargan_script()
  files, labels = script.test_files(config)
  assert len(files) == 7 and broken not in files
  test = domains.make_source(config.data.source, 'test', 8, 3,
                             config.data.attributes, 8)
  images = test.load(np.arange(7))
  np.testing.assert_array_equal(labels, images['attributes'])
  out = tmp_path / 'translations'
  for sub in ('input', *config.data.attributes,
              *(f'rec_{a}' for a in config.data.attributes)):
    os.makedirs(out / sub)
    for file, pixels in zip(files, images['image']):
      Image.fromarray(pixels).save(out / sub / (file[:-4] + '.png'))
  scores = script.score_folder(config, str(out), str(tmp_path / 'cache'))
  assert scores['eval_num_images'] == 7
  assert scores['reconstruction_l1'] == 0
  for name in config.data.attributes:
    assert scores[f'target_accuracy_{name}'] == scores[f'source_rate_{name}']
  male = images['attributes'][:, 2]
  assert 2 <= male.sum() <= 6  # both domains have two test faces or more
  fid_config = ml_collections.ConfigDict(
      {'eval_metrics': ('fid',), 'eval_batch_size': 2,
       'eval_inception_weights': synthetic_inception_weights})
  expected = sum(
      (male != value).sum() * translation.TranslationEvaluator(
          fid_config, images['image'][male == value],
          str(tmp_path / 'alone')).fid(images['image'][male != value])
      for value in (0, 1)) / len(male)
  np.testing.assert_allclose(scores['fid_Male'], expected, rtol=1e-4)
  os.remove(out / 'rec_Male' / (files[3][:-4] + '.png'))
  with pytest.raises(errors.UserError, match=f'rec_Male/{files[3][:-4]}'):
    script.score_folder(config, str(out), str(tmp_path / 'cache'))
