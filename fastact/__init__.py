"""fastact: compiled neural-network activation kernels for NumPy (and CUDA) arrays.

Every function takes keyword-only ``out=`` and ``backend=`` arguments; see
``README.md`` and the docstrings for the formulas and derivatives.
"""

from __future__ import annotations

from fastact import losses as _losses
from fastact import rowwise as _rowwise
from fastact import special as _special
from fastact._api import *  # noqa: F403
from fastact._api import __all__ as _api_all
from fastact._backends import BackendUnavailable, available_backends
from fastact._config import show_config
from fastact._threads import get_num_threads, set_num_threads
from fastact.losses import *  # noqa: F403
from fastact.rowwise import *  # noqa: F403
from fastact.special import *  # noqa: F403

__version__ = "0.1.0"

__all__ = [
    *_api_all,
    *_rowwise.__all__,
    *_losses.__all__,
    *_special.__all__,
    "BackendUnavailable",
    "available_backends",
    "get_num_threads",
    "set_num_threads",
    "show_config",
]

# Every array function also takes Dask arrays, xarray DataArrays and pandas objects
# (fastact/_adapt.py: one type check on the NumPy path).
from fastact import _adapt

for _name in _adapt.array_functions(__all__):
    globals()[_name] = _adapt.adapt(globals()[_name])
del _name
