"""CycleGAN: the generator against the reference's layout, the fast layers'
gradients, the image pool, the update against a hand-written one, unpaired
data, a tiny run with evaluation and translation, and kill -9 resume."""

import json
import os
import signal
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest
from PIL import Image

from gan_jax import families, modes
from gan_jax.core import errors
from gan_jax.core import state as state_lib
from gan_jax.data import order, sources, unpaired
from gan_jax.families.cyclegan import models, step
from gan_jax.families.pix2pix import models as pix2pix_models

from test_reliability import ROOT, _run, _run_until_step  # pylint: disable=g-bad-import-order

KEY = jax.random.PRNGKey(0)
DN = ('NHWC', 'HWIO', 'NHWC')


def test_resnet_generator_has_the_reference_layout():
  # The reference's parameter counts at ngf 64, RGB (its ResnetGenerator
  # instantiated with InstanceNorm2d(affine=False), use_bias=True).
  for name, count in (('resnet_9blocks', 11_378_179),
                      ('resnet_6blocks', 7_837_699)):
    g = models.ResnetGenerator(3, models.GENERATORS[name], 64)
    shapes = jax.eval_shape(g.init, KEY, jnp.zeros((1, 64, 64, 3)))
    assert sum(x.size for x in jax.tree.leaves(shapes)) == count, name
  g = models.ResnetGenerator(1, models.num_blocks('resnet_2blocks'), 2)
  x = jax.random.uniform(KEY, (2, 16, 20, 3), minval=-1, maxval=1)
  params = jax.jit(g.init)(KEY, x)['params']
  apply = jax.jit(lambda p, x_: g.apply({'params': p}, x_))
  y = apply(params, x)
  assert y.shape == (2, 16, 20, 1) and float(jnp.max(jnp.abs(y))) <= 1
  # Instance norm: each image's output does not depend on the others.
  np.testing.assert_allclose(apply(params, x[1:]), y[1:], atol=1e-6)
  assert models.num_blocks('resnet_blocks') is None
  with pytest.raises(ValueError, match='multiples of 4'):
    g.apply({'params': params}, x[:, :, :18])


def test_fast_layers_match_xla_forward_and_gradients():
  xla = lambda x_, k: jax.lax.conv_general_dilated(  # noqa: E731
      x_, k, (1, 1), 'VALID', dimension_numbers=DN)
  xla_up = lambda x_, k: jax.lax.conv_transpose(  # noqa: E731
      x_, k, (2, 2), ((1, 2), (1, 2)), dimension_numbers=DN,
      transpose_kernel=True)
  wide = models._WINOGRAD_MIN_CHANNELS
  cases = [  # conv_valid's forms (to fewer channels, to more, Winograd),
      # _upconv
      (models.conv_valid, xla, (2, 12, 10, 5), (7, 7, 5, 3)),
      (models.conv_valid, xla, (2, 9, 8, 3), (3, 3, 3, 5)),
      (models.conv_valid, xla, (2, 6, 5, wide), (3, 3, wide, wide + 1)),
      (models._upconv, xla_up, (2, 5, 4, 6), (3, 3, 7, 6))]
  for ours, reference, x_shape, k_shape in cases:
    args = (jax.random.normal(KEY, x_shape),
            jax.random.normal(jax.random.PRNGKey(1), k_shape))
    # Jitted: op by op, every small operation would compile on its own.
    vjp = jax.jit(lambda f, *a: (lambda o, pb: (o, pb(
        jax.random.normal(KEY, o.shape))))(*jax.vjp(f, *a)),
                  static_argnums=0)
    (out, grads), (expected, expected_grads) = vjp(ours, *args), vjp(
        reference, *args)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-4)
    for o, e in zip(grads, expected_grads):
      np.testing.assert_allclose(o, e, rtol=1e-5, atol=1e-4)


def test_image_pool_is_the_reference_pool():
  pool = step.empty_pool(3, (1,))
  images = jnp.arange(1.0, 4.0).reshape(3, 1)
  returned, pool = step.query_pool(pool, images, KEY)
  # Filling: every new image is stored and returned.
  np.testing.assert_array_equal(returned, images)
  assert int(pool['count']) == 3
  np.testing.assert_array_equal(pool['images'], images)
  swaps = 0
  query = jax.jit(step.query_pool)
  for i in range(200):
    new = jnp.full((1, 1), 100.0 + i)
    before = np.asarray(pool['images'])
    returned, pool = query(pool, new, jax.random.PRNGKey(i))
    after = np.asarray(pool['images'])
    if float(returned[0, 0]) == 100.0 + i:  # the new image, pool unchanged
      np.testing.assert_array_equal(after, before)
    else:  # a stored image, replaced in its slot by the new one
      slot = int(np.nonzero(before[:, 0] == float(returned[0, 0]))[0][0])
      assert after[slot, 0] == 100.0 + i
      swaps += 1
  assert 70 < swaps < 130  # probability 1/2
  assert step.query_pool(step.empty_pool(0, (1,)), images, KEY)[0] is images


def _players(size=16, width=2):
  # One block and XLA's own convolutions: what is tested here is the
  # update; the layers are tested above, and these compile several times
  # faster than the matrix-product forms.
  g = models.ResnetGenerator(3, 1, width, conv_impl='lax')
  d = pix2pix_models.PatchDiscriminator(width, 2, 'instance', False,
                                        conv_impl='lax')
  x = jnp.zeros((1, size, size, 3))
  keys = jax.random.split(KEY, 4)
  init_g, init_d = jax.jit(g.init), jax.jit(lambda k, x_: d.init(k, None, x_))
  g_params = {'ab': init_g(keys[0], x)['params'],
              'ba': init_g(keys[1], x)['params']}
  d_params = {'a': init_d(keys[2], x)['params'],
              'b': init_d(keys[3], x)['params']}
  return g, d, g_params, d_params


def test_step_is_the_reference_update():
  """One step against the reference's optimize_parameters, written out: G
  (both, one Adam) on LSGAN + 10 cycle + 5 identity with D fixed, then D
  (both, another Adam) on 0.5 (real + pooled fake) of the same fakes.
  Plain SGD, compared leaf by leaf in norm: ||ours - written|| <= 1e-3
  ||written update||. The written loss calls each network separately (ours
  batches them) and sums in another order; the convolution biases before
  instance norm have a true gradient of 0 and a computed one of rounding
  noise in both, which Adam's first step, g / (|g| + eps), would blow up to
  +-lr. A wrong or missing loss term moves a leaf by O(its update)."""
  g, d, g_params, d_params = _players()
  tx = optax.sgd(0.1)
  state = state_lib.new_state(jax.random.PRNGKey(7), {
      'g': state_lib.make_player({'params': g_params}, tx),
      'd': state_lib.make_player({'params': d_params}, tx)},
      {'a': step.empty_pool(50, (16, 16, 3)),
       'b': step.empty_pool(50, (16, 16, 3))})
  batch = {'input': jax.random.randint(KEY, (1, 2, 16, 16, 3), 0, 256
                                       ).astype(jnp.uint8),
           'image': jax.random.randint(jax.random.PRNGKey(1),
                                       (1, 2, 16, 16, 3), 0, 256
                                       ).astype(jnp.uint8)}
  train_step = step.make_train_step(
      g, g, d, tx, tx, loss='least_squares', gan_weight=1.0,
      cycle_weight_a=10.0, cycle_weight_b=10.0, identity_weight=0.5,
      crop_size=16, flip=False)
  new_state, metrics = jax.jit(train_step)(state, batch)

  a, b = batch['input'][0] / 127.5 - 1, batch['image'][0] / 127.5 - 1
  G = lambda p, x: g.apply({'params': p}, x)  # noqa: E731
  D = lambda p, x: d.apply({'params': p}, None, x)  # noqa: E731
  mse = lambda x, t: jnp.mean((x - t) ** 2)  # noqa: E731
  l1 = lambda x, t: jnp.mean(jnp.abs(x - t))  # noqa: E731

  def g_loss(gp):
    fake_b, fake_a = G(gp['ab'], a), G(gp['ba'], b)
    return (mse(D(d_params['b'], fake_b), 1) + mse(D(d_params['a'], fake_a), 1)
            + 10 * l1(G(gp['ba'], fake_b), a) + 10 * l1(G(gp['ab'], fake_a), b)
            + 5 * l1(G(gp['ab'], b), b) + 5 * l1(G(gp['ba'], a), a))

  # The pools are filling: D sees exactly this step's fakes.
  fake_b, fake_a = jax.jit(lambda p: (G(p['ab'], a), G(p['ba'], b)))(g_params)

  def d_loss(dp):
    return (0.5 * (mse(D(dp['b'], b), 1) + mse(D(dp['b'], fake_b), 0))
            + 0.5 * (mse(D(dp['a'], a), 1) + mse(D(dp['a'], fake_a), 0)))

  # Jitted: op by op, every call of the written losses compiles anew.
  for player, params, loss, value in (
      ('g', g_params, g_loss, metrics['g_loss']),
      ('d', d_params, d_loss, metrics['d_loss_a'] + metrics['d_loss_b'])):
    written, grads = jax.jit(jax.value_and_grad(loss))(params)
    np.testing.assert_allclose(value, written, rtol=1e-5)
    updates, _ = tx.update(grads, tx.init(params), params)
    for o, u, p in zip(jax.tree.leaves(new_state.players[player].params),
                       jax.tree.leaves(updates), jax.tree.leaves(params)):
      assert np.linalg.norm(o - p - u) <= 1e-3 * np.linalg.norm(u) + 1e-6
  assert int(new_state.extra['a']['count']) == 2
  np.testing.assert_allclose(new_state.extra['b']['images'][:2], fake_b,
                             atol=1e-5)


def _write(folder, names, size=(12, 10), mode='RGB'):
  os.makedirs(folder, exist_ok=True)
  for i, name in enumerate(names):
    shape = (size[1], size[0]) + ((3,) if mode == 'RGB' else ())
    Image.fromarray(np.full(shape, 20 * i, np.uint8), mode).save(
        os.path.join(folder, name))


def test_unpaired_domains_are_drawn_independently_and_resume(tmp_path):
  _write(tmp_path / 'A', [f'{i}.png' for i in range(5)])
  _write(tmp_path / 'B', [f'{i}.png' for i in range(3)])
  source = unpaired.make_unpaired_source(
      f'unpaired:{tmp_path / "A"},{tmp_path / "B"}', 8, (3, 3))
  assert source.num_examples == 5 and len(source.parts) == 2

  def read(start=0):
    batches = order.train_batches(source, seed=3, batch_size=1, d_steps=1,
                                  num_steps=15, start_step=start,
                                  num_threads=1)
    return [(int(x['input'][0, 0, 0, 0, 0]), int(x['image'][0, 0, 0, 0, 0]))
            for x in batches]

  drawn = read()
  a_values = [a for a, _ in drawn]
  b_values = [b for _, b in drawn]
  # Each domain: fresh permutations of its own images, back to back.
  for values, n in ((a_values, 5), (b_values, 3)):
    for start in range(0, 15 - n + 1, n):
      assert sorted(values[start:start + n]) == [20 * i for i in range(n)]
  # Not paired: B is no function of A (5 A images, > 5 distinct pairs).
  assert len(set(drawn)) > 5
  assert read(start=7) == drawn[7:]  # a resumed run reads the same


def test_unpaired_bad_input_is_one_error_or_counted(tmp_path, caplog):
  _write(tmp_path / 'A', ['a.png', 'b.png'])
  _write(tmp_path / 'A', ['grey.png'], mode='L')
  (tmp_path / 'A' / 'broken.png').write_bytes(b'not an image')
  os.makedirs(tmp_path / 'empty')
  (tmp_path / 'text').mkdir()
  (tmp_path / 'text' / 'x.png').write_bytes(b'nope')
  with pytest.raises(sources.DataError, match='empty'):
    unpaired.make_unpaired_source(
        f'unpaired:{tmp_path / "A"},{tmp_path / "empty"}', 8, (3, 3))
  with pytest.raises(sources.DataError, match='no usable image'):
    unpaired.make_unpaired_source(
        f'unpaired:{tmp_path / "A"},{tmp_path / "text"}', 8, (3, 3))
  with pytest.raises(sources.DataError, match='trainA/ or trainB/'):
    unpaired.make_unpaired_source(f'unpaired:{tmp_path / "A"}', 8, (3, 3))
  with pytest.raises(sources.DataError, match='implies no test images'):
    unpaired.load_domains(f'unpaired:{tmp_path / "A"},{tmp_path / "A"}',
                          'test', 8, (3, 3))
  source = unpaired.make_unpaired_source(
      f'unpaired:{tmp_path / "A"},{tmp_path / "A"}', 8, (3, 3))
  assert source.parts[0].num_examples == 3
  assert 'Skipped 1 of 4 files' in caplog.text
  assert 'Converted 1 of 3 images' in caplog.text and 'grey.png' in caplog.text


def test_digits_task_has_a_known_invertible_answer():
  grey = np.arange(256, dtype=np.uint8).reshape(16, 16, 1)
  # Invertible up to the uint8 rounding of the colours: +-1 grey level.
  back = unpaired.uncolour_digits(unpaired.colour_digits(grey))
  assert np.abs(back.astype(int) - grey).max() == 1
  train, _ = unpaired.load_domains('digits_colour', 'train', 32, (3, 3))
  test, paired = unpaired.load_domains('digits_colour', 'test', 32, (3, 3))
  assert paired and len(test['input']) == len(test['image']) == 359
  # Test B is the colour map of test A; training A and B are other digits.
  np.testing.assert_allclose(unpaired.colour_digits(test['input'][..., :1]),
                             test['image'], atol=1)
  assert len(train['input']) + len(train['image']) == 1797 - 359


# The tiny run of the tests below, in process and on the command line: the
# same settings, so the kill -9 test's subprocesses find its compiled step in
# the suite's compilation cache. One residual block and XLA's own
# convolutions (fast to compile; the matrix-product forms are tested above).
_TINY = {'image_size': 16, 'data.load_size': 18, 'model.base_width': 2,
         'model.generator': 'resnet_1blocks', 'model.conv_impl': 'lax',
         'batch_size': 2, 'pool_size': 3, 'num_train_steps': 8,
         'num_sample_images': 2, 'log_every_steps': 1,
         'checkpoint_every_steps': 2, 'data.num_workers': 1}


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
  import cyclegan  # configs/cyclegan.py  # pylint: disable=g-import-not-at-top
  config = cyclegan.get_config()
  for field, value in _TINY.items():
    parent, _, name = field.rpartition('.')
    (config[parent] if parent else config)[name] = value
  config.eval_batch_size = 128
  workdir = str(tmp_path_factory.mktemp('cyclegan'))
  summary = modes.run(config, workdir)
  return config, workdir, summary


def test_tiny_digits_run_scores_both_directions(tiny_run):
  config, workdir, summary = tiny_run
  assert summary['status'] == 'completed' and summary['step'] == 8
  scores = summary['eval']
  assert scores['eval_num_pairs_ab'] == scores['eval_num_pairs_ba'] == 359
  for key in ('l1_ab', 'l1_ba', 'cycle_l1_a', 'cycle_l1_b'):
    assert 0 < scores[key] < 2, key
  assert scores['psnr_ab'] > 0 and -1 < scores['ssim_ba'] < 1
  grids = os.listdir(os.path.join(workdir, 'eval'))
  assert any(name.startswith('test_grid_step_0000008') for name in grids)
  bad = config.copy_and_resolve_references()
  bad.input_channels = 1
  with pytest.raises(errors.ConfigError, match='identity_weight'):
    families.get('cyclegan').validate(bad)


def test_translate_mode_both_directions(tiny_run, tmp_path):
  config, workdir, _ = tiny_run
  inputs = tmp_path / 'in'
  _write(inputs, ['x.png'], size=(30, 20))
  for direction in ('AtoB', 'BtoA'):
    config = config.copy_and_resolve_references()
    config.translate_direction = direction
    out = str(tmp_path / direction)
    modes.run(config, workdir, 'translate', out, str(inputs))
    assert Image.open(os.path.join(out, 'x.png')).size == (30, 20)
  assert not np.array_equal(np.asarray(Image.open(tmp_path / 'AtoB' / 'x.png')),
                            np.asarray(Image.open(tmp_path / 'BtoA' / 'x.png')))


def _cli(workdir):
  return [sys.executable, '-m', 'gan_jax.main', '--config=configs/cyclegan.py',
          f'--workdir={workdir}', '--config.eval_metrics=()'] + [
              f'--config.{field}={value}' for field, value in _TINY.items()]


def test_kill_9_then_resume_is_bit_identical_pools_included(tiny_run,
                                                           tmp_path):
  """The tiny run again on the command line, killed at step 5 and resumed:
  its last checkpoint equals the uninterrupted (in-process) run's."""
  # The suite's compile cache comes with os.environ (conftest.py).
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu', 'PYTHONPATH': ROOT}
  straight, killed = tiny_run[1], str(tmp_path / 'killed')
  code, log = _run_until_step(_cli(killed), env, 5, signal.SIGKILL)
  assert code == -signal.SIGKILL, log[-2000:]
  result = _run(_cli(killed), env)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'Resuming from checkpoint at step' in result.stderr

  def arrays(workdir):
    path = os.path.join(workdir, 'checkpoints', '8', 'default')
    with ocp.StandardCheckpointer() as checkpointer:
      return jax.tree_util.tree_flatten_with_path(checkpointer.restore(path))[0]

  first, second = arrays(straight), arrays(killed)
  names = [jax.tree_util.keystr(p) for p, _ in first]
  assert names == [jax.tree_util.keystr(p) for p, _ in second]
  assert any('extra' in n and 'images' in n for n in names)  # the pools
  pool = next(v for p, v in first if 'extra' in jax.tree_util.keystr(p)
              and 'count' in jax.tree_util.keystr(p))
  assert int(pool) == 3  # full: later queries swapped images in and out
  for (path, a), (_, b) in zip(first, second):
    np.testing.assert_array_equal(a, b, err_msg=jax.tree_util.keystr(path))
  with open(os.path.join(killed, 'summary.json')) as f:
    assert json.load(f)['step'] == 8
