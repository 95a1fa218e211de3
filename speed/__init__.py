"""The speed layer: the same networks, faster, for scripts that opt in. The lesson never needs it.

    from speed import fast_generator
    net_G = fast_generator(net_G, device)        # Exercises 1-2 and the painter with --fast: prints what it does
    dtype = speed.training_dtype(device)          # exercise3_train.py: the mixed precision it trains in
    speed.tune_process(device)                    # process-wide settings (allocator, cuDNN, TF32), opt-in

    python speed/bench.py --quick                 # plain fp32 against these paths, on this machine

Reduced precision is used only where the hardware computes it natively: on a CPU without bf16
instructions (AVX2 only, say) PyTorch emulates bf16 and runs 10-30x slower. docs/speed.rst has the
figures, measured per CPU class.
"""

from speed.inference import FastGenerator, InferenceSettings, choose_inference, fast_generator  # noqa: F401
from speed.precision import (channels_last_pays, inference_dtype, native_cpu_bf16, training_dtype,  # noqa: F401
                             tune_process)
