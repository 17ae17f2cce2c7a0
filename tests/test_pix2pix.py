"""Pix2Pix: the players' shapes, the 70-pixel patches, the update against a
hand-written one, the shared crop, dropout at test time, and a tiny run."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from PIL import Image

from gan_jax import modes
from gan_jax.core import errors
from gan_jax.core import state as state_lib
from gan_jax.families.pix2pix import models, step

KEY = jax.random.PRNGKey(0)


def _init_g(g, size, channels=1):
  # Jitted: op by op, every parameter's initialiser compiles on its own.
  return jax.jit(lambda: g.init({'params': KEY, 'dropout': KEY},
                                jnp.zeros((1, size, size, channels))))()


def test_unet_shapes_skips_and_dropout_at_test_time():
  g = models.UNetGenerator(out_channels=3, num_downs=6, base_width=2)
  params = _init_g(g, 64)['params']
  # 6 levels: 6 convolutions down, 6 transposed up; dropout in one block.
  assert sum(k.startswith('Conv_') for k in params) == 6
  assert sum(k.startswith('ConvTranspose_') for k in params) == 6
  # Every decoder input but the innermost holds [skip, decoded]: the
  # transposed convolutions read 2x the encoder's width.
  assert params['ConvTranspose_1']['kernel'].shape == (4, 4, 16, 32)
  x = jax.random.uniform(KEY, (1, 64, 64, 1), minval=-1, maxval=1)
  g5 = models.UNetGenerator(out_channels=1, num_downs=5, base_width=2)
  p5 = _init_g(g5, 32)['params']

  @jax.jit
  def outputs(k1, k2):
    apply = lambda k: g.apply({'params': params}, x, rngs={'dropout': k})
    x5 = x[:, :32, :32]
    return (apply(k1), apply(k2),
            g.apply({'params': params}, x, deterministic=True),
            g5.apply({'params': p5}, x5, rngs={'dropout': k1}),
            g5.apply({'params': p5}, x5, deterministic=True))

  a, b, fixed, a5, fixed5 = outputs(jax.random.PRNGKey(1),
                                    jax.random.PRNGKey(2))
  assert a.shape == (1, 64, 64, 3) and float(jnp.max(jnp.abs(a))) <= 1
  assert not np.allclose(a, b)  # the noise the reference keeps at test time
  assert not np.allclose(a, fixed)
  # unet_32 (5 levels) has no block under the 512-channel ones: no dropout.
  np.testing.assert_allclose(a5, fixed5, atol=1e-6)


def test_patchgan_sees_70_pixel_patches():
  d = models.PatchDiscriminator(base_width=2, norm='none')
  a = jnp.zeros((1, 96, 96, 1))
  params = jax.jit(d.init)(KEY, a, a)['params']
  logits = jax.eval_shape(d.apply, {'params': params}, a, a)
  assert logits.shape == (1, 10, 10, 1)  # 96 / 8 - 2
  image = jax.random.normal(KEY, (1, 96, 96, 1))
  grad = jax.jit(jax.grad(
      lambda b: d.apply({'params': params}, a, b)[0, 5, 5, 0]))(image)
  rows = np.nonzero(np.abs(np.asarray(grad)[0, :, :, 0]).sum(1))[0]
  cols = np.nonzero(np.abs(np.asarray(grad)[0, :, :, 0]).sum(0))[0]
  assert rows[-1] - rows[0] + 1 == models.receptive_field(3) == 70
  assert cols[-1] - cols[0] + 1 == 70


# The second's dx im2col matrix exceeds _IM2COL_MAX_BYTES (XLA's dx); its
# kernel gradient sums 129^2 float32 terms in another order than XLA's
# (measured relative difference 3e-5).
@pytest.mark.parametrize('features,shape,rtol', [(1, (2, 7, 6, 3), 1e-5),
                                                 (64, (1, 130, 130, 3), 1e-4)])
def test_stride_one_conv_gradients_match_xla(features, shape, rtol):
  conv = models.StrideOneConv(features, impl='matmul')
  x = jax.random.normal(KEY, shape)
  params = conv.init(KEY, x)['params']
  reference = models.StrideOneConv(features, impl='lax')

  def loss(module, p, x_):
    return jnp.sum(jnp.sin(module.apply({'params': p}, x_)))

  ours = jax.grad(lambda p, x_: loss(conv, p, x_), (0, 1))(params, x)
  xla = jax.grad(lambda p, x_: loss(reference, p, x_), (0, 1))(params, x)
  for o, r in zip(jax.tree.leaves(ours), jax.tree.leaves(xla)):
    np.testing.assert_allclose(o, r, rtol=rtol, atol=1e-5)


def test_crop_and_flip_are_shared_by_a_and_b():
  b = jax.random.randint(KEY, (16, 12, 12, 1), 0, 200).astype(jnp.uint8)
  a = jnp.concatenate([b + 1, b + 2], -1)  # A: a known function of B
  ca, cb = step.random_crop_flip((a, b), KEY, 8, flip=True)
  assert ca.shape == (16, 8, 8, 2) and cb.shape == (16, 8, 8, 1)
  np.testing.assert_array_equal(ca[..., :1], cb + 1)
  np.testing.assert_array_equal(ca[..., 1:], cb + 2)
  # Different examples get different crops: at least one is not the
  # top-left corner, unflipped.
  assert any(not np.array_equal(cb[i], b[i, :8, :8]) for i in range(16))
  same, = step.random_crop_flip((b,), KEY, 12, flip=False)
  np.testing.assert_array_equal(same, b)


def test_step_is_the_reference_update():
  """One step against the reference's optimize_parameters, written out:
  D on 0.5 (BCE fake + BCE real) with G(A) fixed, then G on BCE + 100 L1
  against the updated D, both Adam."""
  g = models.UNetGenerator(out_channels=1, num_downs=5, base_width=2)
  d = models.PatchDiscriminator(base_width=2, n_layers=1)
  tx = optax.adam(1e-2, 0.5, 0.999)
  a = jax.random.randint(KEY, (1, 1, 32, 32, 1), 0, 256).astype(jnp.uint8)
  b = jax.random.randint(jax.random.PRNGKey(1), (1, 1, 32, 32, 1), 0,
                         256).astype(jnp.uint8)
  g_vars = _init_g(g, 32)
  d_vars = jax.jit(d.init)(KEY, jnp.zeros((1, 32, 32, 1)),
                           jnp.zeros((1, 32, 32, 1)))
  state = state_lib.new_state(jax.random.PRNGKey(7), {
      'g': state_lib.make_player(g_vars, tx),
      'd': state_lib.make_player(d_vars, tx)})
  train_step = step.make_train_step(g, d, tx, tx, loss='non_saturating',
                                    gan_weight=1.0, l1_weight=100.0,
                                    crop_size=32, flip=False)
  new_state, metrics = jax.jit(train_step)(state, {'input': a, 'image': b})

  _, _, dropout_key = jax.random.split(state.rng, 3)
  real_a, real_b = a[0] / 127.5 - 1, b[0] / 127.5 - 1
  bce = optax.sigmoid_binary_cross_entropy

  def fake_of(gp):
    return g.apply({'params': gp}, real_a, rngs={'dropout': dropout_key})

  def judge(dp, image):
    return d.apply({'params': dp}, real_a, image)

  def d_loss(dp, fake):
    return 0.5 * (bce(judge(dp, fake), 0.0).mean()
                  + bce(judge(dp, real_b), 1.0).mean())

  def adam(params, grads):
    updates, _ = tx.update(grads, tx.init(params), params)
    return optax.apply_updates(params, updates)

  @jax.jit
  def written_update(gp, dp):
    fake = fake_of(gp)
    loss, grads = jax.value_and_grad(d_loss)(dp, fake)
    new_dp = adam(dp, grads)

    def g_loss(gp_):
      f = fake_of(gp_)
      return (bce(judge(new_dp, f), 1.0).mean()
              + 100 * jnp.abs(f - real_b).mean())

    return adam(gp, jax.grad(g_loss)(gp)), new_dp, loss

  g_params, d_params, loss = written_update(g_vars['params'],
                                            d_vars['params'])
  np.testing.assert_allclose(metrics['d_loss'], loss, rtol=1e-5)
  for ours, written in ((new_state.players['d'].params, d_params),
                        (new_state.players['g'].params, g_params)):
    for o, w in zip(jax.tree.leaves(ours), jax.tree.leaves(written)):
      np.testing.assert_allclose(o, w, rtol=1e-4, atol=1e-6)


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
  import pix2pix  # configs/pix2pix.py  # pylint: disable=g-import-not-at-top
  config = pix2pix.get_config()
  config.model.base_width = 4
  config.num_train_steps = 3
  config.batch_size = 2
  config.log_every_steps = 1
  config.checkpoint_every_steps = 3
  config.num_sample_images = 4
  config.data.num_workers = 1
  config.eval_metrics = ('l1', 'psnr', 'ssim')
  config.eval_batch_size = 64
  workdir = str(tmp_path_factory.mktemp('pix2pix'))
  summary = modes.run(config, workdir)
  return config, workdir, summary


def test_tiny_digits_run_evaluates_on_held_out_pairs(tiny_run):
  config, workdir, summary = tiny_run
  assert summary['status'] == 'completed' and summary['step'] == 3
  assert summary['eval']['eval_num_pairs'] == 359  # the held-out digits
  assert 0 < summary['eval']['l1'] < 2 and summary['eval']['psnr'] > 0
  with open(os.path.join(workdir, 'summary.json')) as f:
    assert json.load(f)['eval']['ssim'] == summary['eval']['ssim']
  grids = os.listdir(os.path.join(workdir, 'eval'))
  assert any(name.startswith('test_grid_step_0000003') for name in grids)


def test_translate_mode_keeps_sizes_and_counts_bad_files(tiny_run, tmp_path,
                                                         caplog):
  config, workdir, _ = tiny_run
  inputs = tmp_path / 'in'
  os.makedirs(inputs / 'sub')
  Image.fromarray(np.zeros((40, 50), np.uint8)).save(inputs / 'a.png')
  Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(inputs / 'sub' / 'b.jpg')
  (inputs / 'broken.png').write_bytes(b'not an image')
  out = str(tmp_path / 'out')
  with pytest.raises(errors.ConfigError, match='needs --input'):
    modes.run(config, workdir, 'translate', out)
  modes.run(config, workdir, 'translate', out, str(inputs))
  assert Image.open(os.path.join(out, 'a.png')).size == (50, 40)
  assert Image.open(os.path.join(out, 'sub', 'b.png')).size == (20, 20)
  assert 'Skipped 1 of 3 files' in caplog.text and 'broken.png' in caplog.text
