"""The speed layer: the same generator, faster, for scripts that opt in (Exercises 1-2 and the
painter's --fast); benchmark/bench.py measures it, docs/speed.rst has the figures per CPU class.

    from speed import fast_generator
    fast_G = fast_generator(net_G, device)   # prints what it switched on; called like net_G

precision.py (native precision, tune_process), inference.py (FastGenerator), cpu_kernels.py.
"""

from speed.inference import FastGenerator, choose_inference, fast_generator
from speed.precision import inference_dtype, tune_process

__all__ = ["FastGenerator", "choose_inference", "fast_generator", "inference_dtype", "tune_process"]
