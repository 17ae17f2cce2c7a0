"""The one training loop, driven by a family of three players that it has
never heard of: nothing in the core may name 'g' or 'd'."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from gan_jax import families, losses
from gan_jax.core import checkpoints, loop, optim, signals
from gan_jax.core import state as state_lib
from gan_jax.families import base

SIZE = 8  # the digits at 8x8x1


class Trio(base.Family):
  """A painter and two critics: the painter answers both critics' losses.

  ``config.step_sleep_s`` > 0 slows every step down on the device (a host
  callback), and ``config.signal_at_step`` sends this process SIGTERM from
  inside that step, as a preemption notice arriving mid-run would.
  """
  name = 'trio_for_tests'
  progress = (('painter_loss', 'painter', '%.3f'),)

  @classmethod
  def validate(cls, config):
    pass

  def __init__(self, config, num_train_steps=1, axis_name=None):
    super().__init__(config, num_train_steps, axis_name)
    self.painter = nn.Dense(SIZE * SIZE)
    self.critic = nn.Dense(1)
    self.tx = optim.make_optimizer(config.optimizer, num_train_steps)

  @property
  def ema_decays(self):
    return {'painter': 0.9}

  def _paint(self, params, z):
    return jnp.tanh(self.painter.apply({'params': params}, z)).reshape(
        -1, SIZE, SIZE, 1)

  def init(self, key):
    keys = jax.random.split(key, 4)
    z = jnp.zeros((2, 4))
    x = jnp.zeros((2, SIZE * SIZE))
    return state_lib.new_state(keys[3], {
        'painter': state_lib.make_player(self.painter.init(keys[0], z),
                                         self.tx, average=True),
        'critic_a': state_lib.make_player(self.critic.init(keys[1], x),
                                          self.tx),
        'critic_b': state_lib.make_player(self.critic.init(keys[2], x),
                                          self.tx)})

  def train_step(self, state, batch):
    config = self.config
    if config.step_sleep_s:
      def on_device(step):
        time.sleep(config.step_sleep_s)
        if int(step) == config.signal_at_step:
          os.kill(os.getpid(), signal.SIGTERM)
      jax.debug.callback(on_device, state.step + 1)
    real = batch['image'][0].astype(jnp.float32).reshape(-1, SIZE * SIZE)
    real = real / 127.5 - 1
    rng, key = jax.random.split(state.rng)
    z = jax.random.normal(key, (real.shape[0], 4))
    players = dict(state.players)
    fake = self._paint(players['painter'].params, z).reshape(real.shape[0], -1)
    mean = lambda t: t if self.axis_name is None else jax.lax.pmean(
        t, self.axis_name)
    metrics = {}
    for name in ('critic_a', 'critic_b'):
      def critic_loss(params):
        logit = lambda x: self.critic.apply({'params': params}, x)[:, 0]
        return losses.discriminator_loss(logit(real), logit(fake))
      value, grads = jax.value_and_grad(critic_loss)(players[name].params)
      players[name] = state_lib.apply_gradients(players[name], mean(grads),
                                                self.tx)
      metrics[f'{name}_loss'] = value

    def painter_loss(params):
      fake = self._paint(params, z).reshape(real.shape[0], -1)
      return sum(losses.generator_loss(self.critic.apply(
          {'params': players[name].params}, fake)[:, 0], 'non_saturating')
                 for name in ('critic_a', 'critic_b'))
    value, grads = jax.value_and_grad(painter_loss)(players['painter'].params)
    players['painter'] = state_lib.apply_gradients(players['painter'],
                                                   mean(grads), self.tx)
    metrics['painter_loss'] = value
    return state.replace(step=state.step + 1, rng=rng,
                         players=players), mean(metrics)

  def sample_grid(self, state):
    z = jax.random.normal(jax.random.PRNGKey(1), (4, 4))
    return self._paint(state.players['painter'].ema, z), 2

  def eval_batches(self, state, key, num, batch_size):
    for index in range(0, num, batch_size):
      z = jax.random.normal(jax.random.fold_in(key, index), (batch_size, 4))
      yield {'image': np.asarray(self._paint(state.players['painter'].ema,
                                             z))[:num - index]}


families.register(Trio)


def trio_config(**overrides):
  config = ml_collections.ConfigDict(dict(
      family=Trio.name, seed=0, image_size=SIZE, channels=1, batch_size=16,
      num_epochs=1, num_train_steps=8, parallel='shard_map',
      log_every_steps=2, checkpoint_every_steps=4, checkpoint_max_to_keep=3,
      sample_epochs=(1,), eval_metrics=(), eval_every_steps=0,
      eval_num_samples=16, eval_batch_size=16, eval_inception_weights='',
      step_sleep_s=0.0, signal_at_step=-1,
      optimizer=optim.optimizer_config(lr=1e-2),
      data=dict(source='digits', tfds_dir='', num_workers=1, prefetch=2)))
  config.update(overrides)
  return config


def _leaves(workdir, config):
  _, state, step = loop.restore_trained(config, workdir)
  return step, jax.tree.leaves(state)


def test_three_players_train_resume_exactly_and_report_by_name(tmp_path):
  config = trio_config()
  straight = loop.train(config, str(tmp_path / 'straight'))
  config.num_train_steps = 4
  loop.train(config, str(tmp_path / 'resumed'))
  config.num_train_steps = 8
  resumed = loop.train(config, str(tmp_path / 'resumed'))
  assert resumed['resumed_from_step'] == 4 and resumed['step'] == 8
  for name in ('painter', 'critic_a', 'critic_b'):
    assert straight[f'{name}_param_norm'] > 0
    assert resumed[f'{name}_param_norm'] == straight[f'{name}_param_norm']
  assert np.isfinite(straight['painter_loss'])
  step_a, a = _leaves(str(tmp_path / 'straight'), config)
  step_b, b = _leaves(str(tmp_path / 'resumed'), config)
  assert step_a == step_b == 8
  for x, y in zip(a, b):  # every player, its ema and optimizer state
    np.testing.assert_array_equal(x, y)
  _, state, _ = loop.restore_trained(config, str(tmp_path / 'straight'))
  ema = state.players['painter'].ema
  assert not np.allclose(ema['kernel'], state.players['painter'].params[
      'kernel'])  # the loop keeps the average the family asked for
  assert state.players['critic_a'].ema == {}
  samples = os.listdir(tmp_path / 'straight' / 'samples')
  assert 'step_0000008_epoch_000.png' in samples and 'progress.gif' in samples


def test_a_stop_signal_is_honoured_within_two_steps(tmp_path):
  """SIGTERM arrives from inside step 5 while the host could run ahead; the
  run saves and stops by step 7, not after the queued window of steps."""
  config = trio_config(num_train_steps=200, log_every_steps=1000,
                       checkpoint_every_steps=1000, step_sleep_s=0.02,
                       signal_at_step=5)
  with pytest.raises(signals.StopRun, match='stopped by SIGTERM after step'):
    loop.train(config, str(tmp_path))
  with open(tmp_path / 'summary.json') as f:
    summary = json.load(f)
  assert summary['status'] == 'preempted'
  assert 5 <= summary['step'] <= 5 + loop.STEPS_IN_FLIGHT
  assert summary['last_checkpoint_step'] == summary['step']
  manager = checkpoints.make_manager(str(tmp_path), None, create=False)
  assert manager.latest_step() == summary['step']


def test_every_family_imports_first():
  # Each family's package as the first gan_jax import (a notebook's
  # `from gan_jax.families.pix2pix import models`): an import cycle between
  # families shows only in that order. One interpreter, jax imported once;
  # gan_jax's modules are dropped between families.
  script = textwrap.dedent('''
      import importlib, sys
      import jax
      failed = {}
      for name in sys.argv[1:]:
        for module in [m for m in sys.modules if m.startswith('gan_jax')]:
          del sys.modules[module]
        try:
          importlib.import_module('gan_jax.families.' + name)
        except Exception as e:  # pylint: disable=broad-except
          failed[name] = repr(e)
      print(failed)
  ''')
  names = [n for n in families.names() if os.path.isdir(
      os.path.join(os.path.dirname(families.__file__), n))]
  assert len(names) >= 7
  result = subprocess.run([sys.executable, '-c', script, *names],
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.strip().splitlines()[-1] == '{}'
