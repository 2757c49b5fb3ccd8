"""The CUDA sources of opl's custom ops (installed as the package data of ``opl._kernels``)."""
