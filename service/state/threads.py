"""BLAS threads per process.

OpenBLAS starts one thread per core in every process. With one API worker per core plus
the trainer, those threads fight over the cores: on a busy 2-core machine a tiny matrix
product then takes hundreds of milliseconds instead of microseconds. Each process of the
service therefore sets its own count (the supervisor also sets the usual environment
variables, which reach BLAS libraries that load later).
"""
from __future__ import annotations

from threadpoolctl import threadpool_limits


def limit_blas_threads(n: int) -> None:
    """Use at most ``n`` BLAS threads in this process from now on."""
    threadpool_limits(limits=n, user_api="blas")
