"""Data parallelism: the per-device min-max step over a 1-D device mesh 'data'.

A family's ``train_step`` (built with ``axis_name=AXIS``) is written once, for
one device, with explicit collectives (gradients and metrics averaged with ``pmean``,
batch-norm statistics synchronised through ``BatchNorm(axis_name=AXIS)``, each
device's noise sliced from the global draw), so N devices compute what one
device computes on the same global batch. Two wrappers run it:

* ``'shard_map'`` (default): ``jax.jit(jax.shard_map(...))`` over a mesh of
  every device of every process; the state is replicated, the batch sharded on
  its minibatch axis and built from each process's share with
  ``jax.make_array_from_process_local_data``. The supported path, multi-host
  included.
* ``'pmap'``: the same function under ``jax.pmap`` over this process's
  devices, for older JAX images (pmap is in maintenance mode since JAX 0.8).
  Single process only here.
"""

from __future__ import annotations

from typing import Callable

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from gan_jax.core import errors

AXIS = 'data'
MODES = ('shard_map', 'pmap')


class ParallelError(errors.UserError, ValueError):
  """A batch or device layout the data-parallel step cannot run."""


def check_divisible(global_batch: int, num_devices: int) -> None:
  if global_batch % num_devices:
    raise ParallelError(
        f'config.batch_size {global_batch} does not divide over the '
        f'{num_devices} devices; use a multiple of {num_devices}')


def mean_over_devices(tree, axis_name: str | None):
  """``pmean`` of every leaf over ``axis_name``; the identity without an
  axis or over one device, where XLA would still run the all-reduce as a copy
  of every gradient (~0.1 s a step for pix2pix's 57M parameters on CPU)."""
  if axis_name is None or jax.lax.axis_size(axis_name) == 1:
    return tree
  return jax.lax.pmean(tree, axis_name)


def device_key(key: jax.Array, axis_name: str | None) -> jax.Array:
  """``key`` made distinct per device along ``axis_name`` (the identity
  without one), so per-device draws (flips, targets, dropout, ...) differ
  between devices as they would between the images of one large batch."""
  if axis_name is None:
    return key
  return jax.random.fold_in(key, jax.lax.axis_index(axis_name))


def make_mesh(devices=None) -> Mesh:
  return Mesh(np.asarray(devices if devices is not None else jax.devices()),
              (AXIS,))


class DataParallel:
  """Places the state and the batches, and compiles the per-device step."""

  def __init__(self, mode: str, global_batch: int, devices=None):
    if mode not in MODES:
      raise ParallelError(f'config.parallel must be one of {MODES}, '
                          f'got {mode!r}')
    if mode == 'pmap' and jax.process_count() > 1:
      raise ParallelError("config.parallel='pmap' runs on one process; use "
                          "'shard_map' on several hosts")
    self.mode = mode
    self.mesh = make_mesh(devices if devices is not None else (
        jax.local_devices() if mode == 'pmap' else jax.devices()))
    self.num_devices = self.mesh.size
    check_divisible(global_batch, self.num_devices)
    self.replicated = NamedSharding(self.mesh, P())
    # Every field of a batch is (k, m, ...): the minibatch axis m is split
    # over the devices.
    self.batch_sharding = NamedSharding(self.mesh, P(None, AXIS))

  def compile_step(self, per_device_step: Callable) -> Callable:
    """(state, batch) -> (state, metrics), state and metrics replicated;
    ``batch`` is a dict of (k, m, ...) arrays."""
    if self.mode == 'shard_map':
      # check_vma=False: pmap's semantics. The step averages gradients itself
      # (pmean); with the check on, JAX would psum the gradients of the
      # replicated parameters implicitly, and reject the custom VJPs of
      # layers.py, whose kernel gradients vary per device until then.
      mapped = jax.shard_map(per_device_step, mesh=self.mesh,
                             in_specs=(P(), P(None, AXIS)),
                             out_specs=(P(), P()), check_vma=False)
      return jax.jit(mapped, donate_argnums=0)
    mapped = jax.pmap(per_device_step, axis_name=AXIS, in_axes=(None, 1),
                      out_axes=None, devices=list(self.mesh.devices.flat))
    return lambda state, batch: mapped(state, jax.tree.map(
        lambda x: x.reshape(x.shape[0], self.num_devices, -1, *x.shape[2:]),
        batch))

  def put_batch(self, local_batch: dict[str, np.ndarray]):
    """This process's share of a global batch -> the global batch."""
    if self.mode == 'pmap':
      return local_batch
    return jax.tree.map(lambda x: jax.make_array_from_process_local_data(
        self.batch_sharding, x), local_batch)
