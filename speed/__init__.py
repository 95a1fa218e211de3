"""The speed layer: the same networks, faster, for scripts that opt in. The lesson never needs it.

    from speed import fast_generator
    net_G = fast_generator(net_G, device)   # Exercises 1-2 and the painter's --fast; prints what
                                            # it switched on
    speed.training_dtype(device)            # the mixed precision training.recipe.StepSpeed uses
    speed.tune_process(device)              # process-wide settings (allocator, cuDNN, TF32)

    python speed/bench.py --quick           # plain fp32 against these paths, on this machine

    precision.py     which precision each device computes natively; tune_process
    inference.py     FastGenerator: a prepared copy of G (dtype, layout, CPU kernels, compile)
    cpu_kernels.py   the two modules fast CPU inference swaps in (group_norm, packed weights)
    bench.py         the benchmark; bench_workers.py, its workloads and worker processes

Reduced precision is used only where the hardware computes it natively: on a CPU without bf16
instructions (AVX2 only, say) PyTorch emulates bf16, many times slower than fp32. docs/speed.rst
has the figures, measured per CPU class.
"""

from speed.inference import FastGenerator, InferenceSettings, choose_inference, fast_generator
from speed.precision import (
    channels_last_pays,
    inference_dtype,
    native_cpu_bf16,
    training_dtype,
    tune_process,
)

__all__ = [
    "FastGenerator",
    "InferenceSettings",
    "choose_inference",
    "fast_generator",
    "channels_last_pays",
    "inference_dtype",
    "native_cpu_bf16",
    "training_dtype",
    "tune_process",
]
