"""The one base class of errors in what the user asked for.

``gan_jax.main`` reports any ``UserError`` as one line (``gan_jax: error:
...``) with no traceback; every message names the config field, file or
line at fault. Each layer raises its own subclass (``ConfigError`` here,
``DataError``, ``ParallelError``, ``CheckpointError`` beside their code), so
this module imports nothing of the package. ``close_quietly`` is the
cleanup after an error, which must not hide it.
"""

from __future__ import annotations

import difflib
import logging
from typing import Any, Callable


class UserError(Exception):
  """Something the user can fix; the message names the field, file or line."""


class ConfigError(UserError, ValueError):
  """A config value that cannot work; the message names the field."""


def require(ok: bool, field: str, message: str, value) -> None:
  """Raises ConfigError('config.FIELD MESSAGE, got VALUE') unless ``ok``."""
  if not ok:
    raise ConfigError(f'config.{field} {message}, got {value!r}')


def get_field(config, field: str):
  """The value of a dotted config field, e.g. 'data.source'."""
  value = config
  for part in field.split('.'):
    value = value[part]
  return value


def positive_ints(config, *fields: str) -> None:
  """Each dotted ``field`` of ``config`` must be an int > 0 (not a bool)."""
  for field in fields:
    value = get_field(config, field)
    require(isinstance(value, int) and not isinstance(value, bool)
            and value > 0, field, 'must be a positive integer', value)


def positive_numbers(config, *fields: str) -> None:
  """Each dotted ``field`` of ``config`` must be a number > 0 (not a bool)."""
  for field in fields:
    value = get_field(config, field)
    require(isinstance(value, (int, float)) and not isinstance(value, bool)
            and value > 0, field, 'must be positive', value)


def one_of(config, field: str, choices) -> None:
  """``field`` must be one of ``choices``; a near miss gets a suggestion."""
  check(get_field(config, field), field, choices)


def check(value, field: str, choices) -> None:
  """``value`` (of config.``field``) must be one of ``choices``."""
  choices = tuple(choices)
  if value in choices:
    return
  message = f'must be one of {choices}, got {value!r}'
  if isinstance(value, str):
    close = difflib.get_close_matches(
        value, [c for c in choices if isinstance(c, str)], n=1)
    if close:
      message += f' (did you mean {close[0]!r}?)'
  raise ConfigError(f'config.{field} {message}')


def boolean(config, *fields: str) -> None:
  for field in fields:
    value = get_field(config, field)
    require(isinstance(value, bool), field, 'must be True or False', value)


def close_quietly(what: str, close: Callable[[], Any]) -> None:
  """Closes one resource as the run ends (a run that ended normally has
  closed it already, and a second close is a no-op).

  Where an error ends the run, that error is the one to report; a second one
  from the cleanup (e.g. the same full disk) is logged, not raised.
  """
  try:
    close()
  except Exception as e:  # pylint: disable=broad-except
    logging.warning('closing %s after the error: %s', what, e)
