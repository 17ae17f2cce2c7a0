"""The interface every GAN family implements; ``core.loop`` drives it.

TF-GAN's split (one training loop; per-family model and loss builders) in
Flax idioms. A family lives in its own folder ``gan_jax/families/NAME/`` with
a ``Family`` subclass exported as ``FAMILY`` from its ``__init__``, and is
chosen by ``config.family = 'NAME'``: adding one touches no shared file.

A family is built from the config (``Family(config, num_train_steps,
axis_name)``) and owns:
  * ``validate(config)``: its config checks, each error naming its field;
  * ``make_source()``: the training data (``gan_jax.data.sources``) with the
    fields its batches need ('image', 'label', ...);
  * ``init(key) -> TrainState``: its players (``core.state``);
  * ``train_step(state, batch) -> (state, metrics)``: pure, written for one
    device; ``batch`` is a dict of arrays shaped (``batches_per_step``,
    per-device batch, ...). With ``axis_name`` set it averages gradients and
    metrics over that axis (``core.parallel`` maps it over the devices);
  * ``sample_grid(state) -> (images, columns)``: the fixed-input grid drawn
    at milestones (images in [-1, 1]);
  * ``eval_batches(state, key, num, batch_size)``: dicts of generated
    'image' (and the 'label' asked for, if any) for ``gan_jax.eval``;
  * evaluation, three hooks whose defaults score ``eval_batches`` with
    ``gan_jax.eval.evaluation`` (a family scored otherwise, e.g. a translator
    on test pairs, overrides them): ``validate_evaluation(config)``,
    ``make_evaluator(training_source, cache_dir)`` (``training_source()``
    builds the training source, called only if needed) and
    ``evaluate(evaluator, state)`` -> {metric: value}; the evaluator has
    ``active`` and ``skipped``;
  * ``progress``: the metrics of the progress line, ((key, label, format));
  * ``ema_decays``: {player: decay} of the weight averages the loop keeps;
  * ``modes``: extra ``--mode`` commands on a trained run ({name: fn(state,
    step, output_dir) -> path}), e.g. 'generate', 'interpolate'.
"""

from __future__ import annotations

import abc
from typing import Any, Callable, ClassVar, Iterator

import jax
import numpy as np

from gan_jax.core import state as state_lib
from gan_jax.data import sources
from gan_jax.eval import evaluation


class Family(abc.ABC):
  """A GAN family; see the module docstring."""
  name: ClassVar[str]
  progress: ClassVar[tuple[tuple[str, str, str], ...]] = ()

  def __init__(self, config, num_train_steps: int = 1,
               axis_name: str | None = None):
    self.config = config
    self.num_train_steps = num_train_steps
    self.axis_name = axis_name

  @classmethod
  @abc.abstractmethod
  def validate(cls, config) -> None:
    """Raises errors.ConfigError naming the field of a value that cannot work."""

  @property
  def batches_per_step(self) -> int:
    """Real batches one step consumes (k D updates of Algorithm 1: d_steps)."""
    return self.config.get('d_steps', 1)

  @property
  def ema_decays(self) -> dict[str, float]:
    return {}

  @property
  def modes(self) -> dict[str, Callable[..., str]]:
    return {}

  def make_source(self) -> sources.Source:
    config = self.config
    return sources.make_source(config.data.source, config.image_size,
                               config.channels, config.data.tfds_dir)

  @abc.abstractmethod
  def init(self, key: jax.Array) -> state_lib.TrainState:
    """The initial state of every player; pure, so it can be jitted."""

  def pretrain(self, state: state_lib.TrainState, source: sources.Source
               ) -> state_lib.TrainState:
    """Work a fresh run does once before the game, on a host copy of the
    initial state (e.g. GAWWN's caption encoder, learnt first and then fixed
    as the paper's); a resumed run has it in its checkpoint. Default: none.
    A pure function of (state, source, config), so a fresh run is
    reproducible; every process runs it and training starts from process
    0's result."""
    del source
    return state

  def train_step(self, state: state_lib.TrainState, batch: dict[str, Any]
                 ) -> tuple[state_lib.TrainState, dict[str, jax.Array]]:
    """One update of the game on one device's share of the batch (a method,
    or a function the family builds and assigns in ``__init__``)."""
    raise NotImplementedError

  @abc.abstractmethod
  def sample_grid(self, state: state_lib.TrainState
                  ) -> tuple[np.ndarray, int | None]:
    """(images in [-1, 1], columns or None) drawn from fixed inputs."""

  def eval_batches(self, state: state_lib.TrainState, key: jax.Array,
                   num: int, batch_size: int) -> Iterator[dict[str, np.ndarray]]:
    """``num`` generated examples as dicts of numpy batches ('image', ...)."""
    raise NotImplementedError

  @classmethod
  def validate_evaluation(cls, config) -> None:
    """Raises errors.ConfigError for evaluation settings that cannot work."""
    evaluation.validate(config)

  def make_evaluator(self, training_source: Callable[[], sources.Source],
                     cache_dir: str):
    """The scorer of this family's samples (cached features in cache_dir),
    against the real images of data.eval_source where set (held-out images
    no run trains on, e.g. anime_faces_eval), else of the training source.

    ``training_source()`` builds (or returns the loop's) training source, so
    scoring a checkpoint against held-out images neither reads nor needs the
    training data."""
    config = self.config
    if config.data.get('eval_source', ''):
      source = sources.make_source(config.data.eval_source, config.image_size,
                                   config.channels, config.data.tfds_dir)
    else:
      source = training_source()
    return evaluation.Evaluator(config, source, cache_dir)

  def evaluate(self, evaluator, state: state_lib.TrainState) -> dict:
    """The metrics of ``state``'s samples, by ``make_evaluator``'s scorer."""
    return evaluator.evaluate(
        lambda key, num, size: self.eval_batches(state, key, num, size))
