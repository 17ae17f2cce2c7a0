"""The one training loop: data -> a family's compiled step -> logs, grids,
evaluations, checkpoints.

It drives any ``families.base.Family`` and never touches a player by name.
Everything with side effects (files, logs) lives here and in ``outputs``, on
process 0; the update itself is the family's pure ``train_step``, mapped over
the devices by ``parallel``.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import logging
import os
import time
from typing import Any, Callable, Iterator

import jax
from jax.experimental import multihost_utils
import numpy as np

from gan_jax import families
from gan_jax.core import checkpoints, errors, outputs, parallel, signals
from gan_jax.core import state as state_lib
from gan_jax.data import order

# Steps dispatched to the devices ahead of the last finished one. JAX runs
# steps asynchronously; without a bound the loop ran a whole logging window
# ahead, and a stop signal waited for all of it (99 s on a busy CPU, where a
# preemptible VM gives 30). One keeps the devices fed while the host
# prepares the next step (the batches are prefetched). Each step in flight
# holds its own buffers for all its intermediates: on XLA:CPU the 256-px
# CycleGAN update takes ~8 GB of host memory per step in flight, and two
# ahead were slower there than one (docs/cyclegan.md).
STEPS_IN_FLIGHT = 1


class InFlight:
  """Bounded asynchrony: ``add`` a dispatched step's outputs, and wait for
  the step STEPS_IN_FLIGHT back to finish (a wait on the device, not a copy
  to the host). The training loop's and gan_jax.bench's dispatch."""

  def __init__(self):
    self._outputs = collections.deque()

  def add(self, outputs_) -> None:
    self._outputs.append(outputs_)
    if len(self._outputs) > STEPS_IN_FLIGHT:
      jax.block_until_ready(self._outputs.popleft())


@dataclasses.dataclass(frozen=True)
class Training:
  """The compiled pieces of a run."""
  family: Any  # built without a device axis: for sampling and evaluation
  init: Callable  # key -> state, replicated over the devices
  replicate: Callable  # a host state -> replicated over the devices
  train_step: Callable  # (state, global batch) -> (state, metrics); donates
  put_batch: Callable  # this process's share of a batch -> the global batch
  num_devices: int


def build_training(config, total_steps: int, devices=None) -> Training:
  """Compiles init and the data-parallel step over ``devices`` (all)."""
  family_cls = families.get(config.family)
  data_parallel = parallel.DataParallel(config.parallel, config.batch_size,
                                        devices)
  family = family_cls(config, total_steps, axis_name=parallel.AXIS)
  decays = family.ema_decays

  def train_step(state, batch):
    state, metrics = family.train_step(state, batch)
    return state_lib.update_averages(state, decays), metrics

  return Training(
      family=family_cls(config, total_steps),
      init=jax.jit(family.init, out_shardings=data_parallel.replicated),
      replicate=lambda tree: jax.tree.map(
          lambda x: jax.make_array_from_process_local_data(
              data_parallel.replicated, np.asarray(x)), tree),
      train_step=data_parallel.compile_step(train_step),
      put_batch=data_parallel.put_batch,
      num_devices=data_parallel.num_devices)


def validate(config) -> None:
  """The family's checks and the loop's, before any work."""
  if 'experiment' in config:
    raise errors.ConfigError(
        'config.experiment was renamed config.family; write config.family = '
        f'{config.experiment!r} in the config file')
  family_cls = families.get(config.get('family', ''))
  errors.positive_ints(config, 'batch_size', 'log_every_steps',
                       'checkpoint_every_steps', 'checkpoint_max_to_keep',
                       'num_epochs')
  errors.require(isinstance(config.num_train_steps, int)
                 and (config.num_train_steps == -1
                      or config.num_train_steps > 0),
                 'num_train_steps', 'must be -1 (from num_epochs) or positive',
                 config.num_train_steps)
  errors.one_of(config, 'parallel', parallel.MODES)
  errors.require(all(isinstance(e, int) and e > 0
                     for e in config.sample_epochs), 'sample_epochs',
                 'must hold positive integers', config.sample_epochs)
  family_cls.validate(config)
  family_cls.validate_evaluation(config)


def restore_trained(config, workdir: str):
  """(family, state, step) of the latest checkpoint in ``workdir``, on this
  process's first device.

  The state's structure comes from ``jax.eval_shape`` of the family's init,
  so nothing is initialised or compiled for what is then restored.
  """
  validate(config)
  family = families.get(config.family)(config)
  abstract = jax.eval_shape(family.init, jax.random.PRNGKey(0))
  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  abstract = jax.tree.map(
      lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=device),
      abstract)
  state, step = checkpoints.restore_latest_for_inference(workdir, abstract)
  return family, state, int(step)


def local_copy(tree):
  """A process-local copy of a replicated state (multi-host arrays are not
  fully addressable, so they cannot be fetched or used by local programs)."""
  return jax.tree.map(lambda x: x if x.is_fully_addressable
                      else x.addressable_data(0), tree)


def num_train_steps(config, num_examples: int, batches_per_step: int) -> int:
  if config.num_train_steps > 0:
    return config.num_train_steps
  per_epoch = order.batches_per_epoch(num_examples, config.batch_size)
  return -(-config.num_epochs * per_epoch // batches_per_step)  # ceil


def epoch_end_step(epoch: int, batches_per_epoch: int,
                   batches_per_step: int) -> int:
  """The step after which ``epoch`` epochs of real batches have been used."""
  return -(-epoch * batches_per_epoch // batches_per_step)


def _prefetch_to_device(batches: Iterator[dict], put: Callable,
                        size: int = 2) -> Iterator[dict]:
  """Keeps ``size`` batches in flight to the devices (transfers are async).

  Closing this generator closes ``batches`` (grain's reader threads).
  """
  queue = []
  try:
    for batch in batches:
      queue.append(put(batch))
      if len(queue) > size:
        yield queue.pop(0)
    yield from queue
  finally:
    close = getattr(batches, 'close', None)
    if close is not None:
      close()


def train(config, workdir: str) -> dict[str, Any]:
  """Trains (or resumes training) ``config.family`` and returns the summary.

  However the run ends, its checkpoint manager, event writer and input
  threads are closed before this returns or raises, so a notebook that
  catches a failed run holds no threads or open files of it.
  """
  with contextlib.ExitStack() as cleanup:
    return _train(config, workdir, cleanup)


def _train(config, workdir: str,
           cleanup: contextlib.ExitStack) -> dict[str, Any]:
  start_time = time.time()
  validate(config)
  if jax.process_index() == 0:
    outputs.check_workdir(workdir)
  probe = families.get(config.family)(config)
  source = probe.make_source()
  per_step = probe.batches_per_step
  per_epoch = order.batches_per_epoch(source.num_examples, config.batch_size)
  if per_epoch < per_step:
    raise errors.ConfigError(
        f'config.batch_size {config.batch_size} x {per_step} batches per step '
        f'is more than the {source.num_examples} examples of {source.name}')
  total_steps = num_train_steps(config, source.num_examples, per_step)
  logging.info('Data %s: %d examples of %s, %d batches of %d per epoch',
               source.name, source.num_examples,
               {k: v[0] for k, v in source.features.items()}, per_epoch,
               config.batch_size)

  training = build_training(config, total_steps)
  family, train_step = training.family, training.train_step
  logging.info('%s: data parallel (%s) over %d devices of %d processes, %d '
               'examples per device', config.family, config.parallel,
               training.num_devices, jax.process_count(),
               config.batch_size // training.num_devices)
  state = training.init(jax.random.PRNGKey(config.seed))
  manager = checkpoints.make_manager(workdir, config.checkpoint_max_to_keep)
  # Closing twice is harmless: a run that ends normally has closed it.
  cleanup.callback(errors.close_quietly, 'the checkpoint manager',
                   manager.close)
  state, restored_step = checkpoints.restore_latest(manager, state)
  if restored_step is None:
    local = local_copy(state)
    pretrained = family.pretrain(local, source)
    if pretrained is not local:
      if jax.process_count() > 1:  # floating-point sums may differ by host
        pretrained = multihost_utils.broadcast_one_to_all(pretrained)
      state = training.replicate(pretrained)
  start_step = int(jax.device_get(state.step))
  if restored_step is not None:
    logging.info('Resuming from checkpoint at step %d (epoch %.2f) of %d',
                 start_step, start_step * per_step / per_epoch, total_steps)

  out = outputs.Outputs(workdir, enabled=jax.process_index() == 0)
  cleanup.callback(errors.close_quietly, 'the event writer', out.close)
  evaluator = (family.make_evaluator(lambda: source,
                                     os.path.join(workdir, 'eval'))
               if config.eval_metrics else None)
  eval_history = outputs.previous_eval_history(out.summary_path, start_step)

  def on_eval(state_) -> float:
    """Evaluates, logs, and returns the seconds it took."""
    step_ = int(jax.device_get(state_.step))
    t0 = time.time()
    local = local_copy(state_)
    results = family.evaluate(evaluator, local)
    if results:
      eval_history.append({'step': step_, **results})
      out.eval_results(step_, results)
      logging.info('Eval at step %d (%.0f s): %s', step_, time.time() - t0,
                   json.dumps(results))
    return time.time() - t0

  milestones = {epoch_end_step(e, per_epoch, per_step): e
                for e in config.sample_epochs}
  milestones[total_steps] = total_steps * per_step // per_epoch

  def on_milestone(state_) -> None:
    step_ = int(jax.device_get(state_.step))
    images, cols = family.sample_grid(local_copy(state_))
    path = out.grid(step_, milestones[step_], jax.device_get(images), cols)
    logging.info('Epoch %d (step %d): samples in %s', milestones[step_], step_,
                 path)

  batches = _prefetch_to_device(order.train_batches(
      source, seed=config.seed, batch_size=config.batch_size,
      d_steps=per_step, num_steps=total_steps, start_step=start_step,
      num_threads=config.data.num_workers, prefetch=config.data.prefetch,
      process_index=jax.process_index(),
      process_count=jax.process_count()), training.put_batch)
  cleanup.callback(errors.close_quietly, 'the input pipeline', batches.close)

  images_per_step = config.batch_size * per_step
  in_flight = InFlight()
  pending_metrics, window_metrics, last_metrics = [], [], {}
  compile_s, steady_start, steady_end, steady_steps = None, None, None, 0
  eval_total_s = 0.0
  window_start, window_steps = time.time(), 0

  def summarise(status: str, **extra) -> dict[str, Any]:
    steady_s = ((steady_end or time.time()) - steady_start - eval_total_s
                if steady_start else 0.0)
    summary_ = {
        'status': status,
        'family': config.family,
        'step': int(jax.device_get(state.step)),
        'epoch': float(jax.device_get(state.step)) * per_step / per_epoch,
        'resumed_from_step': restored_step,
        'wall_time_s': time.time() - start_time,
        'compile_s': compile_s,
        # Real images consumed per second after the first (compiling) step.
        'images_per_s': (steady_steps * images_per_step / steady_s
                         if steady_steps else None),
        'eval_s': eval_total_s,
        **last_metrics,
        **state_lib.param_norms(local_copy(state)),
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
    out.finish(summarise(status, last_checkpoint_step=last_good, **extra))
    kept = (f'the last checkpoint is step {last_good} in {manager.directory}'
            if last_good is not None else 'no checkpoint was saved')
    raise signals.StopRun(f'{message}; {kept}; summary.json has "status": '
                          f'"{status}"')

  def progress_line(step_: int, rate: float, eta: float) -> str:
    shown = '  '.join(f'{label} {fmt % last_metrics[key]}'
                      for key, label, fmt in family.progress
                      if key in last_metrics)
    return (f'[{step_}/{total_steps} {100 * step_ / total_steps:3.0f}%] '
            f'epoch {step_ * per_step / per_epoch:.1f}  {shown}  '
            f'{rate:.{0 if rate >= 10 else 2}f} img/s  '
            f'ETA {outputs.format_duration(eta)}')

  with signals.StopSignals(enabled=jax.process_count() == 1) as stop_signals:
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
      in_flight.add(metrics)
      # SIGTERM/SIGINT here; on a multi-host job orbax agrees on the step
      # at which all processes stop (JAX's preemption sync point).
      stop_signal = stop_signals.received or (
          jax.process_count() > 1 and manager.reached_preemption(step_))
      log_due = step_ % config.log_every_steps == 0 or step_ == total_steps
      checkpoint_due = (step_ % config.checkpoint_every_steps == 0
                        or step_ == total_steps or bool(stop_signal))
      eval_due = evaluator is not None and (step_ == total_steps or (
          config.eval_every_steps and step_ % config.eval_every_steps == 0))
      if log_due or checkpoint_due or eval_due or step_ in milestones:
        # The loop's only host copies: the buffered metrics, checked for
        # divergence before anything derived from them is logged or saved.
        host = jax.device_get(pending_metrics)
        pending_metrics = []
        bad = signals.first_non_finite(host, first_step=step_ - len(host) + 1)
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
        out.scalars(step_, {**last_metrics, 'images_per_s': rate})
        logging.info('%s', progress_line(step_, rate, eta))
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
  out.finish(summary)
  logging.info('Done: %s', json.dumps(summary))
  return summary
