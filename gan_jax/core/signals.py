"""Why a run stops early: a stop signal, or a diverged metric."""

from __future__ import annotations

import logging
import math
import signal
import threading


class StopRun(RuntimeError):
  """The run stopped before its last step (divergence, SIGTERM/SIGINT); the
  message is one line for the user, summary.json has the details."""


class StopSignals:
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

  def __enter__(self) -> 'StopSignals':
    if self.enabled:
      for signum in self.SIGNALS:
        self._previous[signum] = signal.signal(signum, self._handle)
    return self

  def __exit__(self, *exc) -> None:
    for signum, handler in self._previous.items():
      signal.signal(signum, handler)


def first_non_finite(host_metrics: list[dict], first_step: int
                     ) -> tuple[int, str, float] | None:
  """(step, metric, value) of the first non-finite metric, losses first."""
  for offset, metrics in enumerate(host_metrics):
    for name in sorted(metrics, key=lambda k: (not k.endswith('loss'), k)):
      value = float(metrics[name])
      if not math.isfinite(value):
        return first_step + offset, name, value
  return None
