"""Benchmark: the plain fp32 eager path (the official implementation's way) against the project's fast paths.

    python speed/bench.py --quick                  # about 3-5 minutes on 2 CPU cores
    python speed/bench.py --json bench.json        # more repeats; writes every figure as JSON
    python speed/bench.py --loss-curve             # also 50 training steps, fast vs fp32 loss curves
    python speed/bench.py --smoke                  # seconds: tiny networks, checks that it all runs
    python speed/bench.py --compile inference      # the fast path with torch.compile (minutes to compile)
    OMP_WAIT_POLICY=PASSIVE python speed/bench.py  # on a busy machine (see docs/speed.rst)

Measures, at 256x256 with the full networks (ngf = ndf = 64): the machine's matmul peak (fp32, bf16),
generator inference (batch 1 and 8, per-image statistics as the exercises use), one pix2pix training
iteration (batch 1 and 4: G and D forward, GAN + 100 * L1 losses, backward, two Adam steps), the fast
path's accuracy (max |fast - fp32| of G's output), the data path and preprocessing. Prints a table;
writes nothing unless --json is given (top level: inference_speedup, batch 1, and train_speedup, batch 4).

Plain and fast each run in their own worker process (speed/bench_workers.py), because allocator settings
are process-wide and cannot be undone; the parent alternates single timed runs between the two, so both
see the same load. Fast inference is speed.fast_generator (Exercises 1-2 with --fast); fast training is
exercise3_train.py's default, plain training its --fp32.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python speed/bench.py` from anywhere

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from training.recipe import BETA1, LR  # noqa: E402
from helpers.cli import add_device_argument, choose_device  # noqa: E402
from helpers.files import atomic_path  # noqa: E402
from pix2pix_models import IMAGE_SIZE, PatchGANDiscriminator, PerImageBatchNorm2d, UNetGenerator  # noqa: E402
from speed.bench_workers import Pair, data_path  # noqa: E402
from speed.precision import cpu_flags, native_cpu_bf16  # noqa: E402

MAX_ABS_DIFF = 0.05  # accuracy bar for the fast path's G output on [-1, 1]
CURVE_STEPS, CURVE_SMOOTH, CURVE_TOLERANCE = 50, 10, 0.05  # loss-curve check: steps, moving average, 5%


def load_average():
    return os.getloadavg() if hasattr(os, "getloadavg") else None  # the machine's business; none on Windows


def matmul_gflops(dtype, n, repeats):
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - start)
    return 2 * n ** 3 / min(times) / 1e9  # the best run: a peak, which a busy machine can only lower


def counted_flops(ngf):
    """FLOPs of one G forward and of one training iteration per image, counted on the meta device."""
    with torch.device("meta"):
        net_G = UNetGenerator(ngf=ngf, norm_layer=PerImageBatchNorm2d)
        with FlopCounterMode(display=False) as forward:
            net_G(torch.empty(1, 3, IMAGE_SIZE, IMAGE_SIZE))
        net_G, net_D = UNetGenerator(ngf=ngf), PatchGANDiscriminator(ndf=ngf)
        opt_G, opt_D = (torch.optim.Adam(net.parameters(), lr=LR, betas=(BETA1, 0.999)) for net in (net_G, net_D))
        real = torch.empty(1, 3, IMAGE_SIZE, IMAGE_SIZE)
        with FlopCounterMode(display=False) as iteration:  # the shape of train_step(); BCE vs mean: same FLOPs
            fake_B = net_G(real)
            (net_D(real, real).mean() + net_D(real, fake_B.detach()).mean()).backward()
            opt_D.step()
            net_D.requires_grad_(False)
            (net_D(real, fake_B).mean() + F.l1_loss(fake_B, real)).backward()
            opt_G.step()
    return forward.get_total_flops(), iteration.get_total_flops()


def machine():
    flags = cpu_flags() or set()
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() \
        else platform.processor()
    return dict(cpu=model, cores=os.cpu_count(), torch_threads=torch.get_num_threads(), torch=torch.__version__,
                capability=torch.backends.cpu.get_cpu_capability(), native_bf16=native_cpu_bf16(),
                simd_flags=sorted(flags & {"avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16"}),
                gpu=torch.cuda.get_device_name() if torch.cuda.is_available() else None, python=platform.python_version())


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, smaller matmuls (under 5 minutes)")
    parser.add_argument("--smoke", action="store_true",
                        help="seconds: ngf = ndf = 8 and one repeat; checks the benchmark runs, its figures mean nothing")
    parser.add_argument("--json", type=Path, help="also write all figures to this JSON file")
    parser.add_argument("--loss-curve", action="store_true", help=f"also train {CURVE_STEPS} steps fast vs fp32")
    parser.add_argument("--compile", choices=("none", "inference", "all"), default="none",
                        help="where the fast path uses torch.compile (all: training too, several minutes to compile)")
    add_device_argument(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    device = choose_device(args.device)
    ngf = 8 if args.smoke else 64  # the paper's width; --smoke only checks that everything runs
    repeats = dict(infer1=1, infer8=1, train1=1, train4=1, data=1) if args.smoke else \
        dict(infer1=5, infer8=3, train1=3, train4=3, data=5) if args.quick else \
        dict(infer1=15, infer8=7, train1=7, train4=7, data=15)
    report = dict(machine=machine(), device=str(device), quick=args.quick, smoke=args.smoke, ngf=ngf,
                  compile=args.compile,
                  omp_wait_policy=os.environ.get("OMP_WAIT_POLICY", "default"), load_average_start=load_average())
    print(json.dumps(report["machine"]))
    fwd_flops, iter_flops = counted_flops(ngf)
    report["flops"] = dict(generator_forward=fwd_flops, train_iteration_per_image=iter_flops)
    n = 256 if args.smoke else 1024 if args.quick else 2048
    native = report["machine"]["native_bf16"]
    report["peak_gflops"] = dict(fp32=matmul_gflops(torch.float32, n, 5 if args.quick else 10),
                                 bf16=matmul_gflops(torch.bfloat16, n if native else min(n, 512), 3),
                                 bf16_note="native" if native else f"not native: emulated (n={min(n, 512)})")
    print(f"matmul peak: {report['peak_gflops']}")
    pair = Pair(device, args.compile, ngf)
    print(pair.describe["fast"])
    for key, task, batch, flops in (("infer1", "infer", 1, fwd_flops), ("infer8", "infer", 8, fwd_flops),
                                    ("train1", "train", 1, iter_flops), ("train4", "train", 4, iter_flops)):
        result = pair.measure(task, batch, repeats[key])
        for name, r in result.items():
            r.update(images_per_s=batch / r["median_s"], gflops=batch * flops / r["median_s"] / 1e9)
        result["speedup"] = result["plain"]["median_s"] / result["fast"]["median_s"]
        if task == "infer":
            result["max_abs_diff"] = (pair.ask("plain", "output") - pair.ask("fast", "output")).abs().max().item()
        report[key] = result
        print(f"{key}: plain {result['plain']['median_s']:.3f} s, fast {result['fast']['median_s']:.3f} s, "
              f"{result['speedup']:.2f}x; fast {result['fast']['gflops']:.1f} GFLOP/s; page faults per pass "
              f"{result['plain']['page_faults']} -> {result['fast']['page_faults']}"
              + (f"; max|diff| {result['max_abs_diff']:.2e}" if task == "infer" else ""), flush=True)
    if args.loss_curve:
        steps = 2 * CURVE_SMOOTH if args.smoke else CURVE_STEPS
        curves = {name: pair.ask(name, "curve", steps) for name in ("plain", "fast")}
        report["loss_curve"] = compare_curves(curves)
        print(f"loss curve ({steps} steps): {report['loss_curve']['max_relative_deviation']}")
    pair.close()
    # Measured again at the end, and the better kept: a busy machine lowers a peak, it never raises it.
    report["peak_gflops"]["fp32"] = max(report["peak_gflops"]["fp32"], matmul_gflops(torch.float32, n, 5))
    peak = report["peak_gflops"]["bf16" if native else "fp32"]
    for key in ("infer1", "infer8", "train1", "train4"):
        for name in ("plain", "fast"):
            report[key][name]["fraction_of_peak"] = report[key][name]["gflops"] / peak
    report["data"] = data_path(repeats["data"])
    print(f"data path: {report['data']}")
    report["accuracy_ok"] = all(report[k]["max_abs_diff"] < MAX_ABS_DIFF for k in ("infer1", "infer8"))
    report["inference_speedup"], report["train_speedup"] = report["infer1"]["speedup"], report["train4"]["speedup"]
    report["load_average_end"] = load_average()
    print(f"inference_speedup {report['inference_speedup']:.2f}x, train_speedup {report['train_speedup']:.2f}x, "
          f"accuracy {'ok' if report['accuracy_ok'] else 'FAILED'}; load average {report['load_average_end']}")
    print(table(report))
    if args.json:
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(report, indent=2, default=str))
        print(f"wrote {args.json}")
    return report


def table(report):
    """The figures as an reStructuredText table, the form README.rst shows them in."""
    rows = [("workload", "plain fp32 eager", "fast path", "fast/plain", "fast GFLOP/s", "of peak")]
    for key, label in (("infer1", "G inference, batch 1"), ("infer8", "G inference, batch 8"),
                       ("train1", "training iteration, batch 1"), ("train4", "training iteration, batch 4")):
        r = report[key]
        rows.append((label, f"{r['plain']['median_s']:.3f} s", f"{r['fast']['median_s']:.3f} s ({r['fast']['images_per_s']:.1f}"
                     " img/s)", f"{r['speedup']:.2f}x", f"{r['fast']['gflops']:.0f}", f"{100 * r['fast']['fraction_of_peak']:.0f}%"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    rule = "  ".join("=" * w for w in widths)
    lines = [rule, "  ".join(c.ljust(w) for c, w in zip(rows[0], widths)), rule]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows[1:]] + [rule]
    return "\n".join(line.rstrip() for line in lines)


def compare_curves(curves):
    """Max relative deviation of the moving-averaged fast curve from the fp32 one, per loss part."""
    out = dict(max_relative_deviation={}, steps=len(curves["plain"]), window=CURVE_SMOOTH, curves=curves)
    for part in curves["plain"][0]:
        smooth = {}
        for name, steps in curves.items():
            values = [s[part] for s in steps]
            smooth[name] = [statistics.fmean(values[max(0, i - CURVE_SMOOTH + 1):i + 1]) for i in range(len(values))]
        out["max_relative_deviation"][part] = max(abs(f - p) / abs(p) for f, p in zip(smooth["fast"], smooth["plain"]))
    out["within_tolerance"] = all(v <= CURVE_TOLERANCE for v in out["max_relative_deviation"].values())
    return out


if __name__ == "__main__":
    main()
