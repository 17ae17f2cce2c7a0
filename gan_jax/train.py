"""The DCGAN training loop: data -> compiled min-max step -> logs, grids, checkpoints.

Everything with side effects (files, logs) lives here, on process 0; the
update itself is the pure ``step.make_train_step``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import time
from typing import Any, Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
from tensorboardX import SummaryWriter

from gan_jax import checkpoints, config_lib, input_pipeline, models, parallel
from gan_jax import step
from gan_jax import train_state, visualize


def build_models(config, axis_name: str | None = None
                 ) -> tuple[models.Generator, models.Discriminator]:
  """G and D; ``axis_name`` synchronises batch norm across mapped devices."""
  dtype = jnp.dtype(config.model.dtype)
  generator = models.Generator(
      image_size=config.image_size, channels=config.channels,
      base_width=config.model.base_width, init_stddev=config.model.init_stddev,
      dtype=dtype, axis_name=axis_name, conv_impl=config.model.conv_impl)
  discriminator = models.Discriminator(
      image_size=config.image_size, base_width=config.model.base_width,
      init_stddev=config.model.init_stddev, dtype=dtype, axis_name=axis_name,
      conv_impl=config.model.conv_impl)
  return generator, discriminator


@dataclasses.dataclass(frozen=True)
class Training:
  """The compiled pieces of a run."""
  generator: models.Generator  # device-local batch norm: for sampling
  init: Callable  # key -> state, replicated over the devices
  train_step: Callable  # (state, global batch) -> (state, metrics); donates
  put_batch: Callable  # this process's share of a batch -> the global batch
  num_devices: int


def build_training(config, data_shape: tuple[int, int, int],
                   total_steps: int, devices=None) -> Training:
  """Compiles init and the data-parallel min-max step over ``devices`` (all)."""
  data_parallel = parallel.DataParallel(config.parallel, config.batch_size,
                                        devices)
  generator, discriminator = build_models(config, axis_name=parallel.AXIS)
  g_tx, d_tx = train_state.make_optimizers(config.optimizer, total_steps,
                                           config.d_steps)
  init = jax.jit(functools.partial(
      train_state.create_train_state, generator=generator,
      discriminator=discriminator, g_tx=g_tx, d_tx=d_tx,
      z_dim=config.model.z_dim, data_shape=data_shape),
                 out_shardings=data_parallel.replicated)
  train_step = data_parallel.compile_step(step.make_train_step(
      generator, discriminator, g_tx, d_tx, loss=config.loss,
      z_dim=config.model.z_dim, z_distribution=config.model.z_distribution,
      axis_name=parallel.AXIS))
  return Training(generator=generator.clone(axis_name=None), init=init,
                  train_step=train_step, put_batch=data_parallel.put_batch,
                  num_devices=data_parallel.num_devices)


def num_train_steps(config, num_examples: int) -> int:
  if config.num_train_steps > 0:
    return config.num_train_steps
  per_epoch = input_pipeline.batches_per_epoch(num_examples, config.batch_size)
  return -(-config.num_epochs * per_epoch // config.d_steps)  # ceil


def epoch_end_step(epoch: int, batches_per_epoch: int, d_steps: int) -> int:
  """The step after which ``epoch`` epochs of real batches have been used."""
  return -(-epoch * batches_per_epoch // d_steps)


def _prefetch_to_device(batches: Iterator[np.ndarray], put: Callable,
                        size: int = 2) -> Iterator[jax.Array]:
  """Keeps ``size`` batches in flight to the devices (transfers are async)."""
  queue = []
  for batch in batches:
    queue.append(put(batch))
    if len(queue) > size:
      yield queue.pop(0)
  yield from queue


def _format_duration(seconds: float) -> str:
  minutes, seconds = divmod(int(seconds), 60)
  hours, minutes = divmod(minutes, 60)
  return f'{hours}h{minutes:02d}m{seconds:02d}s' if hours else (
      f'{minutes}m{seconds:02d}s')


class _Outputs:
  """Files and logs of a run; a no-op on processes other than 0."""

  def __init__(self, workdir: str, enabled: bool):
    self.enabled = enabled
    self.samples_dir = os.path.join(workdir, 'samples')
    self.summary_path = os.path.join(workdir, 'summary.json')
    self.writer = None
    if enabled:
      os.makedirs(self.samples_dir, exist_ok=True)
      self.writer = SummaryWriter(workdir)

  def scalars(self, step_: int, scalars: dict[str, float]) -> None:
    if self.enabled:
      for name, value in scalars.items():
        self.writer.add_scalar(name, value, step_)

  def grid(self, step_: int, epoch: int, images: np.ndarray) -> str | None:
    if not self.enabled:
      return None
    grid = visualize.image_grid(images)
    path = os.path.join(self.samples_dir,
                        f'step_{step_:07d}_epoch_{epoch:03d}.png')
    visualize.save_png(grid, path)
    self.writer.add_image('samples', grid, step_, dataformats='HWC')
    return path

  def finish(self, summary: dict[str, Any]) -> None:
    if not self.enabled:
      return
    frames = sorted(os.path.join(self.samples_dir, f)
                    for f in os.listdir(self.samples_dir)
                    if f.startswith('step_') and f.endswith('.png'))
    if frames:
      visualize.save_gif(frames, os.path.join(self.samples_dir,
                                              'progress.gif'))
    with open(self.summary_path, 'w') as f:
      json.dump(summary, f, indent=2)
    self.writer.close()


def train_and_evaluate(config, workdir: str) -> dict[str, Any]:
  """Trains (or resumes training) and returns the run's summary."""
  start_time = time.time()
  config_lib.validate_dcgan(config)
  source = input_pipeline.make_source(config.data.source, config.image_size,
                                      config.channels, config.data.tfds_dir)
  per_epoch = input_pipeline.batches_per_epoch(source.num_examples,
                                               config.batch_size)
  if per_epoch < config.d_steps:
    raise config_lib.ConfigError(
        f'config.batch_size {config.batch_size} x config.d_steps '
        f'{config.d_steps} is more than the {source.num_examples} examples of '
        f'{source.name}')
  total_steps = num_train_steps(config, source.num_examples)
  logging.info('Data %s: %d examples of shape %s, %d batches of %d per epoch',
               source.name, source.num_examples, source.image_shape, per_epoch,
               config.batch_size)

  training = build_training(config, source.image_shape, total_steps)
  generator, train_step = training.generator, training.train_step
  logging.info('Data parallel (%s) over %d devices of %d processes, %d '
               'examples per device', config.parallel, training.num_devices,
               jax.process_count(), config.batch_size // training.num_devices)
  state = training.init(jax.random.PRNGKey(config.seed))
  manager = checkpoints.make_manager(workdir, config.checkpoint_max_to_keep)
  state, restored_step = checkpoints.restore_latest(manager, state)
  start_step = int(jax.device_get(state.step))
  if restored_step is not None:
    logging.info('Resuming from checkpoint at step %d (epoch %.2f) of %d',
                 start_step, start_step * config.d_steps / per_epoch,
                 total_steps)

  outputs = _Outputs(workdir, enabled=jax.process_index() == 0)
  fixed_z = train_state.sample_latent(
      jax.random.PRNGKey(config.seed + 1), config.num_sample_images,
      config.model.z_dim, config.model.z_distribution)
  sample = jax.jit(lambda params, stats: generator.apply(
      {'params': params, 'batch_stats': stats}, fixed_z,
      train=config.model.sample_with_batch_stats, mutable=['batch_stats'])[0])

  milestones = {epoch_end_step(e, per_epoch, config.d_steps): e
                for e in config.sample_epochs}
  milestones[total_steps] = total_steps * config.d_steps // per_epoch

  def on_milestone(state_) -> None:
    step_ = int(jax.device_get(state_.step))
    images = jax.device_get(sample(state_.g_params, state_.g_batch_stats))
    path = outputs.grid(step_, milestones[step_], images)
    logging.info('Epoch %d (step %d): samples in %s', milestones[step_], step_,
                 path)

  batches = _prefetch_to_device(input_pipeline.train_batches(
      source, seed=config.seed, batch_size=config.batch_size,
      d_steps=config.d_steps, num_steps=total_steps, start_step=start_step,
      num_threads=config.data.num_workers, prefetch=config.data.prefetch,
      process_index=jax.process_index(),
      process_count=jax.process_count()), training.put_batch)

  images_per_step = config.batch_size * config.d_steps
  pending_metrics, last_metrics = [], {}
  compile_s, steady_start, steady_steps = None, None, 0
  window_start, window_steps = time.time(), 0
  for step_ in range(start_step + 1, total_steps + 1):
    state, metrics = train_step(state, next(batches))
    pending_metrics.append(metrics)
    window_steps += 1
    if compile_s is None:  # the first step includes compilation
      jax.block_until_ready(state)
      compile_s = time.time() - window_start
      steady_start, window_start, window_steps = time.time(), time.time(), 0
    else:
      steady_steps += 1
    if step_ % config.log_every_steps == 0 or step_ == total_steps:
      # The only host sync of the loop: fetch the buffered metrics.
      host = jax.device_get(pending_metrics)
      last_metrics = {k: float(np.mean([m[k] for m in host]))
                      for k in host[0]}
      pending_metrics = []
      elapsed = max(time.time() - window_start, 1e-9)
      rate = window_steps * images_per_step / elapsed
      eta = (total_steps - step_) * elapsed / max(window_steps, 1)
      outputs.scalars(step_, {**last_metrics, 'images_per_s': rate})
      logging.info(
          '[%d/%d %3.0f%%] epoch %.1f  d_loss %.3f  g_loss %.3f  D(x) %.2f  '
          'D(G(z)) %.2f  %.0f img/s  ETA %s', step_, total_steps,
          100 * step_ / total_steps, step_ * config.d_steps / per_epoch,
          last_metrics['d_loss'], last_metrics['g_loss'],
          last_metrics['d_real'], last_metrics['d_fake'], rate,
          _format_duration(eta))
      window_start, window_steps = time.time(), 0
    if step_ % config.checkpoint_every_steps == 0 or step_ == total_steps:
      checkpoints.save(manager, state)
    if step_ in milestones:
      on_milestone(state)
  if start_step >= total_steps:
    logging.info('Already trained to step %d of %d; raise num_epochs or '
                 'num_train_steps to train further', start_step, total_steps)
  jax.block_until_ready(state)
  steady_s = time.time() - steady_start if steady_start else 0.0
  manager.wait_until_finished()
  manager.close()

  summary = {
      'status': 'completed',
      'step': int(jax.device_get(state.step)),
      'epoch': float(jax.device_get(state.step)) * config.d_steps / per_epoch,
      'resumed_from_step': restored_step,
      'wall_time_s': time.time() - start_time,
      'compile_s': compile_s,
      # Real images consumed per second after the first (compiling) step.
      'images_per_s': (steady_steps * images_per_step / steady_s
                       if steady_steps else None),
      **last_metrics,
      'g_param_norm': float(train_state.global_norm(state.g_params)),
      'd_param_norm': float(train_state.global_norm(state.d_params)),
  }
  outputs.finish(summary)
  logging.info('Done: %s', json.dumps(summary))
  return summary
