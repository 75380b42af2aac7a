"""rectbench common: what every layer may import (it imports none of them).

- :mod:`common.registry`: the one registry mechanism (methods, metrics, presets, models).
- :mod:`common.schema`: the result store's tables, the single source of truth for the writer
  (``bench.store``) and the readers (``reports``).
"""

from common.registry import Registry

__all__ = ["Registry"]
