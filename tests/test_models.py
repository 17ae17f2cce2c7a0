import functools

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.families.dcgan import models


@pytest.mark.parametrize('image_size', models.SUPPORTED_IMAGE_SIZES)
@pytest.mark.parametrize('channels', [1, 3])
def test_shapes(image_size, channels):
  g = models.Generator(image_size, channels, base_width=4)
  d = models.Discriminator(image_size, base_width=4)
  z = jnp.zeros((3, 100))
  g_vars = jax.eval_shape(g.init, jax.random.PRNGKey(0), z)
  images = jax.eval_shape(lambda v, z: g.apply(v, z, train=False), g_vars, z)
  assert images.shape == (3, image_size, image_size, channels)
  d_vars = jax.eval_shape(d.init, jax.random.PRNGKey(0), images)
  logits = jax.eval_shape(lambda v, x: d.apply(v, x, train=False), d_vars,
                          images)
  assert logits.shape == (3,)
  # One batch norm per hidden layer: all of G's but the output, all of D's
  # but the input layer.
  n_blocks = models.num_upsampling_blocks(image_size)
  g_bn = [k for k in g_vars['params'] if k.startswith('BatchNorm')]
  d_bn = [k for k in d_vars['params'] if k.startswith('BatchNorm')]
  assert (len(g_bn), len(d_bn)) == (n_blocks, n_blocks - 1)


def test_unsupported_image_size():
  with pytest.raises(ValueError, match='image_size'):
    models.num_upsampling_blocks(48)


def _kernel_shapes(params):
  flat = flax.traverse_util.flatten_dict(params)
  return [v.shape for k, v in sorted(flat.items(), key=lambda kv: kv[0])
          if k[-1] == 'kernel']


def test_64x64x3_matches_pytorch_reference_layer_for_layer():
  # ../shared/bench/torch_dcgan.py (pytorch/examples dcgan): every conv has
  # kernel 4 and no bias; PyTorch stores ConvTranspose2d weights as
  # (in, out, 4, 4) and Conv2d weights as (out, in, 4, 4).
  g = models.Generator(64, 3, base_width=64)
  d = models.Discriminator(64, base_width=64)
  # Shapes only (jax.eval_shape): nothing is initialised or compiled.
  g_params = jax.eval_shape(g.init, jax.random.PRNGKey(0),
                            jnp.zeros((2, 100)))['params']
  d_params = jax.eval_shape(d.init, jax.random.PRNGKey(0),
                            jnp.zeros((2, 64, 64, 3)))['params']
  torch_g = [(100, 512), (512, 256), (256, 128), (128, 64), (64, 3)]
  torch_d = [(64, 3), (128, 64), (256, 128), (512, 256), (1, 512)]
  # Flax: transposed kernels (4, 4, out, in), convolutions (4, 4, in, out).
  assert _kernel_shapes(g_params) == [(4, 4, o, i) for i, o in torch_g]
  assert _kernel_shapes(d_params) == [(4, 4, i, o) for o, i in torch_d]
  count = lambda p: sum(x.size for x in jax.tree.leaves(p))
  # Parameter counts of the PyTorch reference (weights + BN affine).
  assert count(g_params) == 3_576_704
  assert count(d_params) == 2_765_568
  assert not [k for k in g_params if 'Dense' in k or 'bias' in k]


def test_init_follows_dcgan():
  g = models.Generator(64, 3, base_width=64)
  params = jax.jit(g.init)(jax.random.PRNGKey(0), jnp.zeros((2, 100)))['params']
  kernel = np.asarray(params['ConvTranspose_1']['kernel'])
  assert abs(kernel.mean()) < 1e-3
  assert kernel.std() == pytest.approx(0.02, rel=0.02)
  scale = np.asarray(params['BatchNorm_1']['scale'])
  assert scale.mean() == pytest.approx(1.0, abs=0.01)


def test_generator_range_and_train_mode_batch_stats():
  g = models.Generator(32, 1, base_width=4)
  z = jax.random.uniform(jax.random.PRNGKey(1), (8, 100), minval=-1, maxval=1)
  variables = jax.jit(g.init)(jax.random.PRNGKey(0), z)
  images, updates = jax.jit(functools.partial(
      g.apply, train=True, mutable=['batch_stats']))(variables, z)
  assert float(jnp.max(jnp.abs(images))) <= 1.0
  changed = jax.tree.map(lambda a, b: not np.allclose(a, b),
                         variables['batch_stats'], updates['batch_stats'])
  assert all(jax.tree.leaves(changed))
