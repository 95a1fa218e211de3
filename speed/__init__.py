"""The speed layer: the same generator, faster, for scripts that opt in (Exercises 1-2 and the
painter's --fast). The lesson never needs it; docs/speed.rst has the figures per CPU class.

    from speed import fast_generator
    fast_G = fast_generator(net_G, device)   # prints what it switched on; called like net_G

    precision.py     the precision each device computes natively; tune_process (process-wide)
    inference.py     FastGenerator: a prepared copy of G (dtype, layout, CPU kernels, compile)
    cpu_kernels.py   the two modules fast CPU inference swaps in (group_norm, packed weights)

benchmark/bench.py measures it against the plain fp32 network.
"""

from speed.inference import FastGenerator, choose_inference, fast_generator
from speed.precision import inference_dtype, tune_process

__all__ = ["FastGenerator", "choose_inference", "fast_generator", "inference_dtype", "tune_process"]
