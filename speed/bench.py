"""Benchmark: the plain fp32 eager path against the project's fast paths, on this machine.

    python speed/bench.py --quick                  # about 3-5 minutes on 2 CPU cores
    python speed/bench.py --json bench.json        # more repeats; writes every figure as JSON
    python speed/bench.py --loss-curve             # also 50 training steps, fast vs fp32 losses
    python speed/bench.py --smoke                  # seconds: tiny networks, checks that it runs
    python speed/bench.py --compile inference      # the fast path with torch.compile (minutes)
    OMP_WAIT_POLICY=PASSIVE python speed/bench.py  # on a busy machine (see docs/speed.rst)

Plain is the way train.py and test.py of junyanz/pytorch-CycleGAN-and-pix2pix run the networks:
fp32, NCHW, eager. Measures, at 256x256: the machine's matmul peak (fp32 and bf16, the best of
several sizes), generator inference with the paper's networks (batch 1 and 8, per-image
statistics as the exercises use), one pix2pix training iteration (G and D forward, GAN + 100 * L1
losses, backward, two Adam steps) with the paper's networks (batch 1 and 4) and with the --quick
preset's (ngf 16, ndf 8, batch 2: what a student's CPU runs), the fast path's accuracy
(max |fast - fp32| of G's output), the data path and preprocessing. Prints a table; writes
nothing unless --json is given (top level: inference_speedup, batch 1; train_speedup, batch 4;
quick_train_speedup, the preset's).

Plain and fast each run in their own worker process (speed/bench_workers.py), because allocator
settings are process-wide and cannot be undone; the parent alternates single timed runs between
the two, so both see the same load. Fast inference is speed.fast_generator (Exercises 1-2 with
--fast); fast training is exercise3_train.py's default, plain training its --fp32.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python speed/bench.py`

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from helpers.lesson import add_device_argument, choose_device
from helpers.lesson import atomic_path
from pix2pix_models import IMAGE_SIZE, PatchGANDiscriminator, PerImageBatchNorm2d, UNetGenerator
from speed.bench_workers import Pair, data_path
from speed.precision import cpu_flags, native_cpu_bf16
from training.recipe import BETA1, LR

MAX_ABS_DIFF = 0.05  # accuracy bar for the fast path's G output on [-1, 1]
CURVE_STEPS = 50  # --loss-curve: training steps, ...
CURVE_SMOOTH = 10  # ... the moving average compared, ...
CURVE_TOLERANCE = 0.05  # ... and the largest relative deviation allowed
# Timed runs per workload; the median is reported.
REPEATS = {
    "smoke": dict(infer1=1, infer8=1, train1=1, train4=1, quick=1, data=1),
    "quick": dict(infer1=5, infer8=3, train1=3, train4=3, quick=7, data=5),
    "full": dict(infer1=15, infer8=7, train1=7, train4=7, quick=15, data=15),
}
# (key, task, batch, (ngf, ndf), label in the table); --smoke makes every width 8
WORKLOADS = (
    ("infer1", "infer", 1, (64, 64), "G inference, batch 1"),
    ("infer8", "infer", 8, (64, 64), "G inference, batch 8"),
    ("train1", "train", 1, (64, 64), "training iteration, batch 1"),
    ("train4", "train", 4, (64, 64), "training iteration, batch 4"),
    ("quick", "train", 2, (16, 8), "--quick's iteration (ngf 16, ndf 8), batch 2"),
)
# Square matmuls timed for the peak: small ones fit the caches, large ones amortise the packing;
# which is fastest depends on the CPU, so the best of them is the peak.
PEAK_SIZES = {"smoke": (256,), "quick": (1024, 2048), "full": (1024, 2048, 4096)}
SIMD_FLAGS = {"avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16"}


def load_average():
    return os.getloadavg() if hasattr(os, "getloadavg") else None  # none on Windows


def matmul_gflops(dtype, n, repeats):
    a = torch.randn(n, n, dtype=dtype)
    b = torch.randn(n, n, dtype=dtype)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - start)
    return 2 * n**3 / min(times) / 1e9  # the best run: a peak, which a busy machine can only lower


def peak_gflops(dtype, sizes, repeats=3):
    """The best matmul rate over `sizes`, and the size that gave it."""
    rates = {n: matmul_gflops(dtype, n, repeats) for n in sizes}
    best = max(rates, key=rates.get)
    return rates[best], best


def counted_flops(ngf, ndf):
    """FLOPs of one G forward and of one training iteration per image, counted on the meta
    device (shapes only, no arithmetic)."""
    with torch.device("meta"):
        net_G = UNetGenerator(ngf=ngf, norm_layer=PerImageBatchNorm2d)
        with FlopCounterMode(display=False) as forward:
            net_G(torch.empty(1, 3, IMAGE_SIZE, IMAGE_SIZE))
        net_G = UNetGenerator(ngf=ngf)
        net_D = PatchGANDiscriminator(ndf=ndf)
        opt_G = torch.optim.Adam(net_G.parameters(), lr=LR, betas=(BETA1, 0.999))
        opt_D = torch.optim.Adam(net_D.parameters(), lr=LR, betas=(BETA1, 0.999))
        real = torch.empty(1, 3, IMAGE_SIZE, IMAGE_SIZE)
        # The shape of train_step(); BCE or a mean: the same FLOPs.
        with FlopCounterMode(display=False) as iteration:
            fake_B = net_G(real)
            (net_D(real, real).mean() + net_D(real, fake_B.detach()).mean()).backward()
            opt_D.step()
            net_D.requires_grad_(False)
            (net_D(real, fake_B).mean() + F.l1_loss(fake_B, real)).backward()
            opt_G.step()
    return forward.get_total_flops(), iteration.get_total_flops()


def cpu_model():
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return platform.processor()
    lines = cpuinfo.read_text().splitlines()
    names = (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    return next(names, platform.processor())


def machine():
    return dict(
        cpu=cpu_model(),
        cores=os.cpu_count(),
        torch_threads=torch.get_num_threads(),
        torch=torch.__version__,
        capability=torch.backends.cpu.get_cpu_capability(),
        native_bf16=native_cpu_bf16(),
        simd_flags=sorted((cpu_flags() or set()) & SIMD_FLAGS),
        gpu=torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        python=platform.python_version(),
    )


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer repeats, smaller matmuls (under 5 minutes)"
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="seconds: ngf = ndf = 8 and one repeat; checks that the benchmark runs, its figures "
        "mean nothing",
    )
    parser.add_argument("--json", type=Path, help="also write all figures to this JSON file")
    parser.add_argument(
        "--loss-curve", action="store_true", help=f"also train {CURVE_STEPS} steps fast vs fp32"
    )
    parser.add_argument(
        "--compile",
        choices=("none", "inference", "all"),
        default="none",
        help="where the fast path uses torch.compile (all: training too, minutes to compile)",
    )
    add_device_argument(parser)
    return parser.parse_args(argv)


def measure_peaks(sizes, bf16_sizes):
    fp32, fp32_n = peak_gflops(torch.float32, sizes)
    bf16, bf16_n = peak_gflops(torch.bfloat16, bf16_sizes)
    peaks = dict(fp32=fp32, fp32_n=fp32_n, bf16=bf16, bf16_n=bf16_n)
    print(f"matmul peak: {fp32:.0f} GFLOP/s fp32 (n={fp32_n}), {bf16:.0f} bf16 (n={bf16_n})")
    return peaks


def measure(pair, task, batch, widths, flops, repeats):
    """Plain and fast timings of one workload, with images/s, GFLOP/s, the speed-up and, for
    inference, the largest difference between their outputs."""
    result = pair.measure(task, batch, widths, repeats)
    for r in result.values():
        r.update(images_per_s=batch / r["median_s"], gflops=batch * flops / r["median_s"] / 1e9)
    plain, fast = result["plain"], result["fast"]
    result["speedup"] = plain["median_s"] / fast["median_s"]
    line = (
        f"plain {plain['median_s']:.3f} s, fast {fast['median_s']:.3f} s, "
        f"{result['speedup']:.2f}x; fast {fast['gflops']:.1f} GFLOP/s; page faults per pass "
        f"{plain['page_faults']} -> {fast['page_faults']}"
    )
    if task == "infer":
        difference = pair.ask("plain", "output") - pair.ask("fast", "output")
        result["max_abs_diff"] = difference.abs().max().item()
        line += f"; max|diff| {result['max_abs_diff']:.2e}"
    return result, line


def main(argv=None):
    args = parse_args(argv)
    device = choose_device(args.device)
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    repeats = REPEATS[mode]
    report = dict(
        machine=machine(),
        device=str(device),
        quick=args.quick,
        smoke=args.smoke,
        compile=args.compile,
        omp_wait_policy=os.environ.get("OMP_WAIT_POLICY", "default"),
        load_average_start=load_average(),
    )
    print(json.dumps(report["machine"]))
    sizes = PEAK_SIZES[mode]
    native = report["machine"]["native_bf16"]
    bf16_sizes = sizes if native else (min(sizes[0], 512),)  # emulated bf16 is slow: one small one
    report["peak_gflops"] = measure_peaks(sizes, bf16_sizes)
    report["flops"] = {}
    pair = Pair(device, args.compile)
    print(pair.describe["fast"])
    for key, task, batch, widths, _ in WORKLOADS:
        widths = (8, 8) if args.smoke else widths  # --smoke only checks that everything runs
        flops = counted_flops(*widths)[0 if task == "infer" else 1]
        report["flops"][key] = flops
        report[key], line = measure(pair, task, batch, widths, flops, repeats[key])
        print(f"{key}: {line}", flush=True)
    if args.loss_curve:
        steps = 2 * CURVE_SMOOTH if args.smoke else CURVE_STEPS
        widths = (8, 8) if args.smoke else (64, 64)
        curves = {name: pair.ask(name, "curve", steps, widths) for name in ("plain", "fast")}
        report["loss_curve"] = compare_curves(curves)
        print(f"loss curve ({steps} steps): {report['loss_curve']['max_relative_deviation']}")
    pair.close()
    # Measured again at the end, and the better kept: a busy machine lowers a peak, never raises it.
    again = measure_peaks(sizes, bf16_sizes)
    for dtype in ("fp32", "bf16"):
        if again[dtype] > report["peak_gflops"][dtype]:
            report["peak_gflops"][dtype] = again[dtype]
            report["peak_gflops"][f"{dtype}_n"] = again[f"{dtype}_n"]
    fast_dtype = "bf16" if native else "fp32"  # what the fast path computes in on this CPU
    for key, *_ in WORKLOADS:
        for name, dtype in (("plain", "fp32"), ("fast", fast_dtype)):
            report[key][name]["fraction_of_peak"] = (
                report[key][name]["gflops"] / report["peak_gflops"][dtype]
            )
    over = [key for key, *_ in WORKLOADS if report[key]["fast"]["fraction_of_peak"] > 1]
    report["peak_exceeded_by"] = over  # should stay empty: a peak is an upper bound
    report["data"] = data_path(repeats["data"])
    print(f"data path: {report['data']}")
    differences = [report[key]["max_abs_diff"] for key in ("infer1", "infer8")]
    report["accuracy_ok"] = all(difference < MAX_ABS_DIFF for difference in differences)
    report["inference_speedup"] = report["infer1"]["speedup"]
    report["train_speedup"] = report["train4"]["speedup"]
    report["quick_train_speedup"] = report["quick"]["speedup"]
    report["load_average_end"] = load_average()
    print(
        f"inference_speedup {report['inference_speedup']:.2f}x, "
        f"train_speedup {report['train_speedup']:.2f}x, "
        f"quick_train_speedup {report['quick_train_speedup']:.2f}x, "
        f"accuracy {'ok' if report['accuracy_ok'] else 'FAILED'}; "
        f"load average {report['load_average_end']}"
    )
    print(table(report))
    if args.json:
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(report, indent=2, default=str))
        print(f"wrote {args.json}")
    return report


def table(report):
    """The figures as a reStructuredText table, the form docs/speed.rst shows them in."""
    rows = [("workload", "plain fp32 eager", "fast path", "fast/plain", "fast GFLOP/s", "of peak")]
    for key, *_, label in WORKLOADS:
        plain, fast = report[key]["plain"], report[key]["fast"]
        rows.append(
            (
                label,
                f"{plain['median_s']:.3f} s",
                f"{fast['median_s']:.3f} s ({fast['images_per_s']:.1f} img/s)",
                f"{report[key]['speedup']:.2f}x",
                f"{fast['gflops']:.0f}",
                f"{100 * fast['fraction_of_peak']:.0f}%",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    rule = "  ".join("=" * w for w in widths)
    lines = [rule, padded(rows[0], widths), rule]
    lines += [padded(row, widths) for row in rows[1:]]
    lines.append(rule)
    return "\n".join(lines)


def padded(row, widths):
    return "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()


def compare_curves(curves):
    """Max relative deviation of the moving-averaged fast curve from the fp32 one, per loss part."""
    deviations = {}
    for part in curves["plain"][0]:
        smooth = {name: moving_average([s[part] for s in steps]) for name, steps in curves.items()}
        pairs = zip(smooth["fast"], smooth["plain"], strict=True)
        deviations[part] = max(abs(fast - plain) / abs(plain) for fast, plain in pairs)
    return dict(
        max_relative_deviation=deviations,
        steps=len(curves["plain"]),
        window=CURVE_SMOOTH,
        curves=curves,
        within_tolerance=all(v <= CURVE_TOLERANCE for v in deviations.values()),
    )


def moving_average(values):
    """Each value averaged with up to CURVE_SMOOTH - 1 values before it."""
    return [
        statistics.fmean(values[max(0, i - CURVE_SMOOTH + 1) : i + 1]) for i in range(len(values))
    ]


if __name__ == "__main__":
    main()
