"""Kernel sources, installed as ``fastact.kernels``: Numba CPU, Numba CUDA and Cython."""
