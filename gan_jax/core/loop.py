"""The DCGAN training loop: data -> compiled min-max step -> logs, grids, checkpoints.

Everything with side effects (files, logs) lives here, on process 0; the
update itself is the pure ``step.make_train_step``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import math
import os
import signal
import tempfile
import threading
import time
from typing import Any, Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
from tensorboardX import SummaryWriter

from gan_jax.core import checkpoints

from gan_jax.core import config as config_lib

from gan_jax.eval import evaluation

from gan_jax.data import sources as input_pipeline
from gan_jax.families.dcgan import models
from gan_jax.core import parallel
from gan_jax.families.dcgan import sampling
from gan_jax.families.dcgan import step
from gan_jax.core import state as train_state
from gan_jax.core import visualize


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
      reuse_fake=config.reuse_fake, r1_gamma=config.r1_gamma,
      axis_name=parallel.AXIS))
  return Training(generator=generator.clone(axis_name=None), init=init,
                  train_step=train_step, put_batch=data_parallel.put_batch,
                  num_devices=data_parallel.num_devices)


@dataclasses.dataclass(frozen=True)
class TrainedGenerator:
  """G and its variables from a run's latest checkpoint."""
  generator: models.Generator
  g_params: Any
  g_batch_stats: Any
  step: int


def restore_generator(config, workdir: str) -> TrainedGenerator:
  """G of the latest checkpoint in ``workdir``, on this process's first device.

  The state's structure comes from ``jax.eval_shape`` of its initialiser, so
  nothing is initialised or compiled for the discarded parts (D, optimizers).
  """
  config_lib.validate_dcgan(config)
  generator, discriminator = build_models(config)
  # The optimizer states' structure does not depend on the schedule's length.
  g_tx, d_tx = train_state.make_optimizers(config.optimizer, 1, config.d_steps)
  abstract = jax.eval_shape(functools.partial(
      train_state.create_train_state, generator=generator,
      discriminator=discriminator, g_tx=g_tx, d_tx=d_tx,
      z_dim=config.model.z_dim,
      data_shape=(config.image_size, config.image_size, config.channels)),
                            jax.random.PRNGKey(0))
  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  abstract = jax.tree.map(
      lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=device),
      abstract)
  state, step_ = checkpoints.restore_latest_for_inference(workdir, abstract)
  return TrainedGenerator(generator, state.g_params, state.g_batch_stats,
                          int(step_))


def _local_copy(tree):
  """A process-local copy of a replicated state (multi-host arrays are not
  fully addressable, so they cannot be fetched or used by local programs)."""
  return jax.tree.map(lambda x: x if x.is_fully_addressable
                      else x.addressable_data(0), tree)


def _previous_eval_history(summary_path: str, start_step: int) -> list[dict]:
  """A resumed run's evaluations so far, from the summary.json it wrote."""
  if start_step == 0 or not os.path.exists(summary_path):
    return []
  with open(summary_path) as f:
    history = json.load(f).get('eval_history') or []
  return [entry for entry in history if entry['step'] <= start_step]


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


class StopRun(RuntimeError):
  """The run stopped before its last step (divergence, SIGTERM/SIGINT); the
  message is one line for the user, summary.json has the details."""


class _StopSignals:
  """SIGTERM (a preemption notice) and SIGINT (Ctrl-C) ask the loop to stop
  after the current step, save and exit; a second signal stops at once.

  Only for single-process runs: on multi-host jobs JAX's preemption service
  owns SIGTERM and ``manager.reached_preemption`` tells every process.
  """
  SIGNALS = (signal.SIGTERM, signal.SIGINT)

  def __init__(self, enabled: bool):
    self.enabled = enabled and (threading.current_thread()
                                is threading.main_thread())
    self.received: str | None = None
    self._previous = {}

  def _handle(self, signum, frame):  # pylint: disable=unused-argument
    if self.received:
      raise KeyboardInterrupt(f'second {signal.Signals(signum).name}')
    self.received = signal.Signals(signum).name
    logging.warning('%s received: stopping after this step, saving a '
                    'checkpoint (send it again to stop at once)', self.received)

  def __enter__(self) -> '_StopSignals':
    if self.enabled:
      for signum in self.SIGNALS:
        self._previous[signum] = signal.signal(signum, self._handle)
    return self

  def __exit__(self, *exc) -> None:
    for signum, handler in self._previous.items():
      signal.signal(signum, handler)


def _first_non_finite(host_metrics: list[dict], first_step: int
                      ) -> tuple[int, str, float] | None:
  """(step, metric, value) of the first non-finite metric, losses first."""
  for offset, metrics in enumerate(host_metrics):
    for name in sorted(metrics, key=lambda k: (not k.endswith('loss'), k)):
      value = float(metrics[name])
      if not math.isfinite(value):
        return first_step + offset, name, value
  return None


def _check_workdir(workdir: str) -> None:
  """A workdir that cannot hold checkpoints fails now, not at the first save."""
  try:
    os.makedirs(workdir, exist_ok=True)
    with tempfile.TemporaryFile(dir=workdir):
      pass
  except OSError as e:
    raise config_lib.ConfigError(
        f'--workdir {workdir} is not a writable directory: '
        f'{e.strerror or e}') from e


def _format_duration(seconds: float) -> str:
  minutes, seconds = divmod(int(seconds), 60)
  hours, minutes = divmod(minutes, 60)
  return f'{hours}h{minutes:02d}m{seconds:02d}s' if hours else (
      f'{minutes}m{seconds:02d}s')


class WorkdirWriteError(StopRun):
  """A grid, log or summary could not be written (a full disk, a revoked
  mount); checkpoints are orbax's and stay restorable."""


@contextlib.contextmanager
def _written(path: str):
  """Turns an OSError while writing ``path`` into one WorkdirWriteError."""
  try:
    yield
  except OSError as e:
    raise WorkdirWriteError(
        f'cannot write {path} ({e.strerror or e}); rerun the same command '
        'once the workdir has space: the run resumes from its last complete '
        'checkpoint') from e


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
    with _written(path):
      visualize.save_png(grid, path)
    self.writer.add_image('samples', grid, step_, dataformats='HWC')
    return path

  def eval_results(self, step_: int, results: dict[str, float]) -> None:
    if self.enabled:
      for name, value in results.items():
        self.writer.add_scalar(f'eval/{name}', value, step_)

  def finish(self, summary: dict[str, Any]) -> None:
    if not self.enabled:
      return
    frames = sorted(os.path.join(self.samples_dir, f)
                    for f in os.listdir(self.samples_dir)
                    if f.startswith('step_') and f.endswith('.png'))
    gif = os.path.join(self.samples_dir, 'progress.gif')
    if frames:
      with _written(gif):
        visualize.save_gif(frames, gif)
    with _written(self.summary_path):
      with open(self.summary_path, 'w') as f:
        json.dump(summary, f, indent=2)
    self.writer.close()


def train_and_evaluate(config, workdir: str) -> dict[str, Any]:
  """Trains (or resumes training) and returns the run's summary."""
  start_time = time.time()
  config_lib.validate_dcgan(config)
  evaluation.validate(config)
  if jax.process_index() == 0:
    _check_workdir(workdir)
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
  sample = sampling.make_sampler(generator,
                                 config.model.sample_with_batch_stats)
  evaluator = (evaluation.Evaluator(config, source,
                                    os.path.join(workdir, 'eval'))
               if config.eval_metrics else None)
  eval_history = _previous_eval_history(outputs.summary_path, start_step)

  def on_eval(state_) -> float:
    """Evaluates, logs, and returns the seconds it took."""
    step_ = int(jax.device_get(state_.step))
    t0 = time.time()
    results = evaluator.evaluate(sample, _local_copy(state_.g_params),
                                 _local_copy(state_.g_batch_stats))
    if results:
      eval_history.append({'step': step_, **results})
      outputs.eval_results(step_, results)
      logging.info('Eval at step %d (%.0f s): %s', step_, time.time() - t0,
                   json.dumps(results))
    return time.time() - t0

  milestones = {epoch_end_step(e, per_epoch, config.d_steps): e
                for e in config.sample_epochs}
  milestones[total_steps] = total_steps * config.d_steps // per_epoch

  def on_milestone(state_) -> None:
    step_ = int(jax.device_get(state_.step))
    images = jax.device_get(sample(_local_copy(state_.g_params),
                                   _local_copy(state_.g_batch_stats), fixed_z))
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
  pending_metrics, window_metrics, last_metrics = [], [], {}
  compile_s, steady_start, steady_end, steady_steps = None, None, None, 0
  eval_total_s = 0.0
  window_start, window_steps = time.time(), 0

  def summarise(status: str, **extra) -> dict[str, Any]:
    steady_s = ((steady_end or time.time()) - steady_start - eval_total_s
                if steady_start else 0.0)
    summary_ = {
        'status': status,
        'step': int(jax.device_get(state.step)),
        'epoch': float(jax.device_get(state.step)) * config.d_steps / per_epoch,
        'resumed_from_step': restored_step,
        'wall_time_s': time.time() - start_time,
        'compile_s': compile_s,
        # Real images consumed per second after the first (compiling) step.
        'images_per_s': (steady_steps * images_per_step / steady_s
                         if steady_steps else None),
        'eval_s': eval_total_s,
        **last_metrics,
        'g_param_norm': float(train_state.global_norm(state.g_params)),
        'd_param_norm': float(train_state.global_norm(state.d_params)),
        **extra,
    }
    if evaluator:
      summary_['eval'] = eval_history[-1] if eval_history else None
      summary_['eval_history'] = eval_history
      if evaluator.skipped:
        summary_['eval_skipped'] = evaluator.skipped
    return summary_

  def stop_run(status: str, message: str, **extra) -> None:
    """Ends the run early: pending saves finish, summary.json says why."""
    checkpoints.wait(manager)
    last_good = manager.latest_step()
    manager.close()
    outputs.finish(summarise(status, last_checkpoint_step=last_good, **extra))
    kept = (f'the last checkpoint is step {last_good} in {manager.directory}'
            if last_good is not None else 'no checkpoint was saved')
    raise StopRun(f'{message}; {kept}; summary.json has "status": '
                  f'"{status}"')

  with _StopSignals(enabled=jax.process_count() == 1) as signals:
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
      # SIGTERM/SIGINT here; on a multi-host job orbax agrees on the step
      # at which all processes stop (JAX's preemption sync point).
      stop_signal = signals.received or (
          jax.process_count() > 1 and manager.reached_preemption(step_))
      log_due = step_ % config.log_every_steps == 0 or step_ == total_steps
      checkpoint_due = (step_ % config.checkpoint_every_steps == 0
                        or step_ == total_steps or bool(stop_signal))
      eval_due = evaluator is not None and (step_ == total_steps or (
          config.eval_every_steps and step_ % config.eval_every_steps == 0))
      if log_due or checkpoint_due or eval_due or step_ in milestones:
        # The loop's only host syncs: the buffered metrics, checked for
        # divergence before anything derived from them is logged or saved.
        host = jax.device_get(pending_metrics)
        pending_metrics = []
        bad = _first_non_finite(host, first_step=step_ - len(host) + 1)
        if bad:
          bad_step, name, value = bad
          stop_run('diverged', f'diverged at step {bad_step}: {name} is '
                   f'{value}', diverged_at_step=bad_step, diverged_metric=name)
        window_metrics.extend(host)
      if log_due:
        last_metrics = {k: float(np.mean([m[k] for m in window_metrics]))
                        for k in window_metrics[0]}
        window_metrics = []
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
      if checkpoint_due:
        checkpoints.save(manager, state)
      if stop_signal:
        stop_run('preempted', f'stopped by {stop_signal or "preemption"} '
                 f'after step {step_}; run the same command to resume')
      if step_ in milestones:
        on_milestone(state)
      if eval_due:
        # Evaluation time is not training time: images/s excludes it.
        eval_s = on_eval(state)
        eval_total_s += eval_s
        window_start += eval_s
  if start_step >= total_steps:
    logging.info('Already trained to step %d of %d; raise num_epochs or '
                 'num_train_steps to train further', start_step, total_steps)
  jax.block_until_ready(state)
  steady_end = time.time()
  checkpoints.wait(manager)
  manager.close()
  summary = summarise('completed')
  outputs.finish(summary)
  logging.info('Done: %s', json.dumps(summary))
  return summary
