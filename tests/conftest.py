import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

# Run the CUDA tests in Numba's simulator unless a real GPU is asked for
# (FASTACT_CUDA_HW=1). numba.config may already be loaded by a plugin: reload it
# so that numba.cuda, imported later, sees the setting.
if os.environ.get("FASTACT_CUDA_HW") != "1":
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
    from numba import config as _numba_config

    _numba_config.reload_config()
