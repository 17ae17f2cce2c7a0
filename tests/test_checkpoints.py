import jax
import numpy as np

from gan_jax.core import checkpoints, optim
from gan_jax.families.dcgan import models, step


@jax.jit  # one compiled initialisation, not one program per operation
def _init(key):
  opt = optim.optimizer_config(lr=2e-4)
  tx = optim.make_optimizer(opt)
  return step.create_train_state(
      key, models.Generator(32, 1, base_width=4),
      models.Discriminator(32, base_width=4), tx, tx, 8, (32, 32, 1))


def _state(seed):
  return _init(jax.random.PRNGKey(seed))


def test_round_trip_restores_an_equal_state(tmp_path):
  saved = _state(0).replace(step=np.int32(7))
  manager = checkpoints.make_manager(str(tmp_path), max_to_keep=2)
  checkpoints.save(manager, saved)
  manager.wait_until_finished()
  # Restore into a differently initialised state of the same structure.
  template = _state(1)
  restored, step = checkpoints.restore_latest(
      checkpoints.make_manager(str(tmp_path), max_to_keep=2), template)
  assert step == 7
  assert jax.tree.structure(restored) == jax.tree.structure(saved)
  for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(saved)):
    assert a.dtype == b.dtype
    np.testing.assert_array_equal(a, b)


def test_no_checkpoint_returns_the_given_state(tmp_path):
  state = _state(0)
  restored, step = checkpoints.restore_latest(
      checkpoints.make_manager(str(tmp_path), max_to_keep=2), state)
  assert step is None and restored is state
