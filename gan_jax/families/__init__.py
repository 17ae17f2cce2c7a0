"""GAN families, one folder each; ``config.family`` names the folder.

Every subpackage exports ``FAMILY``, a ``families.base.Family`` subclass, so
a new family is a new folder and touches no shared file. A family defined
elsewhere (a notebook, a test) joins with ``register(FamilyClass)``.
"""

from __future__ import annotations

import importlib
import pkgutil

from gan_jax.core import errors


_REGISTERED = {}


def register(family_cls):
  """Makes ``family_cls`` (a ``base.Family``) available as its ``name``."""
  _REGISTERED[family_cls.name] = family_cls
  return family_cls


def names() -> tuple[str, ...]:
  return tuple(sorted({m.name for m in pkgutil.iter_modules(__path__)
                       if m.ispkg} | set(_REGISTERED)))


def get(name: str):
  """The ``Family`` class of ``gan_jax/families/NAME`` (or registered)."""
  if name in _REGISTERED:
    return _REGISTERED[name]
  errors.check(name, 'family', names())
  return importlib.import_module(f'{__name__}.{name}').FAMILY
