"""The deterministic, resumable order of training batches over a ``Source``.

This file holds the batch order; ``sources.py`` holds the sources it reads.

Batch j of the run holds the examples at positions
[(j mod b) * B, (j mod b + 1) * B) of the permutation of epoch j // b
(b = batches per epoch, remainder dropped per epoch), and that permutation is
grain's index shuffle seeded by (seed + epoch). Training step t consumes the
k = d_steps batches k*t ... k*t + k - 1 (Algorithm 1 draws a fresh minibatch
for every D update). Everything is a pure function of (seed, epoch, index):
no iterator state exists, so a run resumed at step t sees exactly the batches
an uninterrupted run would have seen, for any process count. Every field of
an example ('image', 'label', 'attributes') follows the same order.

An unpaired source (``Source.parts``, e.g. CycleGAN's domains A and B) has
no common order: each part is drawn as its own stream of permutations of its
own examples, batch j holding positions [j * B, (j + 1) * B) of that stream,
permutation e of part p seeded by (seed, p, e). So A and B are independent,
each a pure function of (seed, index) and resumable like the rest; an epoch
is ``num_examples`` (the largest part's size) examples, as in the reference
CycleGAN code.
"""

from __future__ import annotations

from typing import Iterator

import grain
import numpy as np

from gan_jax.data.sources import DataError, Source


def batches_per_epoch(num_examples: int, batch_size: int) -> int:
  return num_examples // batch_size


def _part_seed(seed: int, part: int) -> int:
  return int(np.random.SeedSequence([seed % 2**32, part]).generate_state(1)[0])


def _part_stream(part: Source, seed: int, batch_size: int, d_steps: int,
                 num_steps: int) -> grain.MapDataset:
  """Step t -> the (d_steps, batch_size) indices of ``part`` it reads: a
  stream of fresh permutations of the part's examples, cut into batches
  regardless of where one permutation ends."""
  if part.num_examples < 1:
    raise DataError(f'{part.name} holds no examples')
  repeats = -(-num_steps * d_steps * batch_size // part.num_examples)
  return (grain.MapDataset.range(part.num_examples).shuffle(seed=seed)
          .repeat(max(repeats, 1))
          .batch(batch_size, drop_remainder=True)
          .batch(d_steps, drop_remainder=True))


def train_batches(source: Source, *, seed: int, batch_size: int,
                  d_steps: int, num_steps: int, start_step: int = 0,
                  num_threads: int = 2, prefetch: int = 4,
                  process_index: int = 0,
                  process_count: int = 1) -> Iterator[dict[str, np.ndarray]]:
  """Yields, for steps [start_step, num_steps), one dict per step: every field
  of ``source.features`` as (d_steps, local_batch, *shape), e.g. 'image'
  uint8 (d_steps, local_batch, H, W, C) and 'label' int32 (d_steps,
  local_batch).

  ``batch_size`` is global; each process decodes only its contiguous share of
  every global batch. Decoding runs in ``num_threads`` threads, ``prefetch``
  steps ahead of the consumer.
  """
  if batches_per_epoch(source.num_examples, batch_size) < 1:
    raise DataError(f'batch_size {batch_size} is larger than the '
                    f'{source.num_examples} examples of {source.name}')
  if batch_size % process_count:
    raise DataError(f'batch_size {batch_size} does not divide over '
                    f'{process_count} processes')
  per_epoch = batches_per_epoch(source.num_examples, batch_size)
  epochs = -(-num_steps * d_steps // per_epoch)  # ceil
  local = batch_size // process_count
  rows = slice(process_index * local, (process_index + 1) * local)

  def load_part(part: Source, idx: np.ndarray) -> dict[str, np.ndarray]:
    batch = part.load(idx[:, rows].reshape(-1))
    return {name: np.asarray(batch[name]).reshape(d_steps, local, *shape)
            for name, (shape, _) in part.features.items()}

  if not source.parts:
    indices = (grain.MapDataset.range(source.num_examples)
               .shuffle(seed=seed % 2**32)
               .batch(batch_size, drop_remainder=True)  # per epoch
               .repeat(epochs)  # reseeds the shuffle for every epoch
               .batch(d_steps, drop_remainder=True))
    steps = indices.slice(slice(start_step, num_steps)).map(
        lambda idx: load_part(source, idx))
  else:
    streams = [_part_stream(part, _part_seed(seed, p), batch_size, d_steps,
                            num_steps)
               for p, part in enumerate(source.parts)]

    def load(step: int) -> dict[str, np.ndarray]:
      batch = {}
      for part, stream in zip(source.parts, streams):
        batch.update(load_part(part, stream[step]))
      return batch

    steps = grain.MapDataset.range(start_step, num_steps).map(load)
  return iter(steps.to_iter_dataset(grain.ReadOptions(
      num_threads=num_threads, prefetch_buffer_size=prefetch)))
