"""The host process's memory allocator, set for XLA:CPU's way of allocating.

XLA:CPU allocates a compiled step's buffers afresh on every call and frees
them when it returns. glibc gives large blocks (above its mmap threshold, at
most 32 MiB) and the thread pool's per-thread arenas back to the kernel on
free, so each step page-faults the same memory in again. On the 256-px
CycleGAN update (docs/cyclegan.md) that was 1.1 million page faults and 12 s
of system time in a 20-s step. One arena (the main heap), no mmap'ed blocks
and no trimming keep the pages mapped: 12 s per step, 0.3 s of it in the
kernel. jemalloc or tcmalloc, preloaded, keep them too, without glibc's
heap fragmentation (docs/training.md).
"""

from __future__ import annotations

import ctypes
import sys

# glibc's malloc.h.
_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8
_SETTINGS = (
    (_M_ARENA_MAX, 1),  # every thread allocates from the main heap
    (_M_MMAP_MAX, 0),  # large blocks come from the heap, not mmap
    (_M_TRIM_THRESHOLD, -1),  # free never shrinks the heap (mallopt(3))
)


# Allocators that replace malloc when preloaded (LD_PRELOAD): both keep
# freed memory for reuse, which is what the settings below give glibc.
_PRELOADED = ('jemalloc', 'tcmalloc')


def allocator(maps: str = '/proc/self/maps') -> str:
  """The malloc this process runs on: 'jemalloc' or 'tcmalloc' where one is
  loaded (LD_PRELOAD), 'glibc' otherwise on Linux, 'unknown' where
  ``maps`` (the process's memory map) cannot be read."""
  try:
    with open(maps) as f:
      mapped = f.read()
  except OSError:
    return 'unknown'
  for name in _PRELOADED:
    if f'/lib{name}' in mapped:
      return name
  return 'glibc'


def keep_freed_memory() -> bool:
  """Sets glibc's malloc to keep freed memory mapped (see the module).

  Call it before JAX starts its backend: a thread that has allocated keeps
  its arena. A no-op returning False where the C library is not glibc (or
  has no ``mallopt``) or another malloc is preloaded; True when every
  setting was taken.
  """
  if not sys.platform.startswith('linux') or allocator() != 'glibc':
    return False
  try:
    mallopt = ctypes.CDLL(None).mallopt
  except (OSError, AttributeError):
    return False
  mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
  return all(mallopt(param, value) == 1 for param, value in _SETTINGS)
