"""Backend modules: raw kernels over flat contiguous arrays.

Every CPU backend exposes the functions of :mod:`fastact.backends.numpy_backend`
(the reference) with the same arguments; :mod:`fastact._dispatch` does all the
checking and layout work before calling them.
"""
