"""The training state: one pytree holding everything a GAN run evolves.

``TrainState`` keys its players by name ('g', 'd' for DCGAN; 'g_ab', 'g_ba',
'd_a', 'd_b' for CycleGAN; ...). Each ``Player`` holds its parameters, its
non-trained variables (batch-norm running averages, spectral norm's power
iteration vector: flax's 'batch_stats' collection), its optax state, and,
where configured, an exponential moving average of its parameters. A
family's own evolving state (an image history pool, say) goes in ``extra``.

Only arrays live here, so the whole state is donated to the compiled step,
replicated over devices and saved by orbax as it is: every family gets exact
resume for free. The optax *transformations* are rebuilt from the config.
"""

from __future__ import annotations

from typing import Any, Mapping

import flax
import jax
import jax.numpy as jnp
import optax

from gan_jax.core import optim


@flax.struct.dataclass
class Player:
  params: Any
  batch_stats: Any  # {} for a network without such variables
  opt_state: Any
  ema: Any  # the parameters' moving average; {} when not averaged


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  rng: jax.Array
  players: dict[str, Player]
  extra: Any  # family-owned state; {} when none


def make_player(variables: Mapping[str, Any], tx: optax.GradientTransformation,
                average: bool = False) -> Player:
  """A player from its ``module.init`` variables and its optimizer."""
  params = variables['params']
  return Player(params=params, batch_stats=variables.get('batch_stats', {}),
                opt_state=tx.init(params),
                ema=jax.tree.map(jnp.copy, params) if average else {})


def new_state(rng: jax.Array, players: dict[str, Player],
              extra: Any = None) -> TrainState:
  return TrainState(step=jnp.zeros((), jnp.int32), rng=rng, players=players,
                    extra={} if extra is None else extra)


def apply_gradients(player: Player, grads, tx: optax.GradientTransformation,
                    batch_stats=None) -> Player:
  """One optimizer step of ``player`` (and its new batch statistics)."""
  updates, opt_state = tx.update(grads, player.opt_state, player.params)
  return player.replace(
      params=optax.apply_updates(player.params, updates), opt_state=opt_state,
      batch_stats=player.batch_stats if batch_stats is None else batch_stats)


def update_averages(state: TrainState, decays: Mapping[str, float]
                    ) -> TrainState:
  """Moves each named player's ``ema`` towards its parameters
  (``optim.ema_update``, at the state's step)."""
  if not decays:
    return state
  players = dict(state.players)
  for name, decay in decays.items():
    player = players[name]
    players[name] = player.replace(ema=optim.ema_update(
        player.ema, player.params, state.step, decay))
  return state.replace(players=players)


def param_norms(state: TrainState) -> dict[str, float]:
  """{'NAME_param_norm': L2 norm of that player's parameters}."""
  norms = _global_norms({name: player.params
                         for name, player in state.players.items()})
  return {f'{name}_param_norm': float(norm) for name, norm in norms.items()}


@jax.jit
def _global_norms(params_by_player):
  # One compiled call: taken leaf by leaf, every parameter shape would
  # compile its own small program at each summary.
  return {name: optim.global_norm(params)
          for name, params in params_by_player.items()}
