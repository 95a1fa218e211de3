"""Benchmark: the plain fp32 eager path against the fast paths, on this machine.

    python benchmark/bench.py --quick              # about 3-5 minutes on 2 CPU cores
    python benchmark/bench.py --json bench.json    # more repeats; every figure as JSON
    python benchmark/bench.py --loss-curve         # also 50 training steps, fast vs fp32
    python benchmark/bench.py --smoke              # seconds: tiny networks, checks it runs
    python benchmark/bench.py --compile inference  # the fast path with torch.compile (minutes)

Plain runs the networks as the official code does: fp32, NCHW, eager (exercise3_train.py --fp32).
Fast is speed.fast_generator (--fast) and Exercise 3's default precision, with speed.tune_process,
whose settings are process-wide for good: so each runs in a process of its own, and single timed
runs alternate between the two. --json: inference_speedup (batch 1), train_speedup (batch 4),
quick_train_speedup (--quick's networks) and every other figure.
"""

import importlib
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import timeit
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python benchmark/bench.py`

import torch
from torch.utils.flop_counter import FlopCounterMode

import speed
from facades_generator import DEFAULT_CHECKPOINT, create_facades_generator, load_label
from preprocessing.demo import draw_demo_pair
from helpers.lesson import ROOT, ArgumentParser, LessonError, add_device_argument, atomic_path
from helpers.lesson import choose_device, fail, open_image, path_arg, refuse_overwrite
from pix2pix_models import IMAGE_SIZE, PatchGANDiscriminator, PerImageBatchNorm2d, UNetGenerator
from pix2pix_models import init_weights
from speed.precision import cpu_flags, native_cpu_bf16
from training.recipe import BETA1, LAMBDA_L1, LR, StepSpeed, train_step
from torchvision.transforms import v2  # after training/, which names a broken torchvision's fix
from torchvision.transforms.v2 import functional as TF

resource = None if sys.platform == "win32" else importlib.import_module("resource")  # page faults
MAX_ABS_DIFF = 0.05  # accuracy bar for the fast path's G output on [-1, 1]
# --loss-curve: steps, moving-average window, largest relative deviation of fast from fp32
CURVE_STEPS, CURVE_SMOOTH, CURVE_TOLERANCE = 50, 10, 0.05
WORKLOADS = (  # key, task, batch, (ngf, ndf) (--smoke: 8 and 8), timed runs (--quick, full)
    ("infer1", "infer", 1, (64, 64), (5, 15), "generator, batch 1"),
    ("infer8", "infer", 8, (64, 64), (3, 7), "generator, batch 8"),
    ("train1", "train", 1, (64, 64), (3, 7), "training iteration, batch 1"),
    ("train4", "train", 4, (64, 64), (3, 7), "training iteration, batch 4"),
    ("quick", "train", 2, (16, 8), (7, 15), "--quick iteration (16/8 wide), batch 2"),
)
# The peak: the best square matmul, small ones fitting the caches, large ones amortising packing
PEAK_SIZES = {"smoke": (256,), "quick": (1024, 2048), "full": (1024, 2048, 4096)}
COMPILED = {"none": (), "inference": ("infer",), "all": ("infer", "train")}  # --compile
WORKER = {}  # in a worker process (its pool's only one): its settings and current workload


def start_worker(device, fast, compile):
    """The pool's initializer: tune_process is process-wide for good, hence a process each."""
    device = torch.device(device)
    step = StepSpeed.choose(device, fp32=not fast)
    WORKER.update(device=device, fast=fast, compile=compile, step=step)
    if fast:
        lines = [speed.choose_inference(device).describe(), f"training: {step}"]
        print("\n  ".join(["fast path:", *lines, *speed.tune_process(device)]), flush=True)


def setup(task, batch, widths):
    """Build a workload and run it once (oneDNN primitives, compiling, heap growth): its seconds."""
    if max(widths) < 16:  # --smoke's tiny networks are all small ops: thread hand-offs dominate
        torch.set_num_threads(1)
    compile = WORKER["fast"] and task in COMPILED[WORKER["compile"]]
    if task == "infer":
        WORKER["run"] = inference(batch, widths[0], compile)
    else:
        step, g = training(widths, compile), torch.Generator().manual_seed(1)
        pair = torch.rand(2, batch, 3, IMAGE_SIZE, IMAGE_SIZE, generator=g) * 2 - 1
        layout = WORKER["step"].memory_format  # moved beforehand: the step alone is timed
        real_A, real_B = (x.to(WORKER["device"], memory_format=layout) for x in pair)
        WORKER["run"] = lambda: step(real_A, real_B)
    return timed()[0]


def inference(batch, ngf, compile):
    device = WORKER["device"]
    torch.manual_seed(0)
    if DEFAULT_CHECKPOINT.is_file() and ngf == 64:  # real weights: a more telling accuracy
        net_G = create_facades_generator(DEFAULT_CHECKPOINT, device)
    else:
        net_G = UNetGenerator(ngf=ngf, norm_layer=PerImageBatchNorm2d)
        net_G = init_weights(net_G).eval().to(device)
    if WORKER["fast"]:
        net_G = speed.FastGenerator(net_G, speed.choose_inference(device, compile=compile))
    labels = sorted((ROOT / "sample_facades" / "base").glob("*.png"))
    real_A = torch.stack([load_label(labels[i % len(labels)]) for i in range(batch)]).to(device)

    @torch.inference_mode()
    def run():
        fake_B = net_G(real_A)
        if device.type != "cpu":  # wait for the GPU's queue
            getattr(torch, device.type).synchronize()
        return fake_B

    return run


def training(widths, compile):
    """G, D and their Adams as exercise3_train.py builds them; a step on (real_A, real_B) that
    returns the losses (D's two halves as one)."""
    device, how = WORKER["device"], WORKER["step"]
    torch.manual_seed(0)
    nets = [UNetGenerator(ngf=widths[0]), PatchGANDiscriminator(ndf=widths[1])]
    nets = [init_weights(n).to(device, memory_format=how.memory_format).train() for n in nets]
    opts = [torch.optim.Adam(n.parameters(), LR, (BETA1, 0.999), **how.adam_options) for n in nets]
    net_G, net_D = (torch.compile(n) for n in nets) if compile else nets

    def step(real_A, real_B):
        real_A, real_B = (x.to(device, memory_format=how.memory_format) for x in (real_A, real_B))
        parts = train_step(net_G, net_D, *opts, real_A, real_B, LAMBDA_L1, how)
        loss_D = 0.5 * (parts["D_real"] + parts["D_fake"])
        return dict(G_GAN=parts["G_GAN"], G_L1=parts["G_L1"], D=loss_D)

    return step


def timed():
    """One run of the workload: (seconds, minor page faults; none counted on Windows)."""
    faults = minor_faults()
    return timeit.timeit(WORKER["run"], number=1), minor_faults() - faults


def minor_faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt if resource else 0


def settle():
    """A second untimed pass: the heap and caches settle. The plain path counts its FLOPs."""
    counter = FlopCounterMode(display=False)
    with nullcontext() if WORKER["fast"] else counter:  # fast: packed, compiled ops it cannot count
        WORKER["run"]()
    return counter.get_total_flops()


def output():
    return WORKER["run"]().float().cpu()


def halves(image):
    """A Kaggle-style pair (colour LEFT, sketch RIGHT) as a (2, 3, H, H) uint8 tensor."""
    return torch.stack(TF.pil_to_tensor(image).chunk(2, dim=2))


def loss_curve(steps, widths):
    step = training(widths, compile=False)
    pairs = [TF.resize(halves(draw_demo_pair(0, i)), [IMAGE_SIZE] * 2) for i in range(8)]
    pairs = [pair.float() / 127.5 - 1 for pair in pairs]  # (2, 3, 256, 256): colour, sketch
    return [step(pairs[i % 8][1:], pairs[i % 8][:1]) for i in range(steps)]


def data_path(repeats):
    """Median seconds to decode a 1024x512 pair (the one decoder), split it and jitter both halves
    alike (§6.2: resize to 286, one random crop and flip for the two)."""
    jitter = v2.Compose([v2.Resize(286), v2.RandomCrop(IMAGE_SIZE), v2.RandomHorizontalFlip()])
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp) / f"{index}.png" for index in range(repeats)]
        for index, path in enumerate(paths):
            draw_demo_pair(0, index).save(path)
        times = [timeit.timeit(lambda p=p: jitter(halves(open_image(p))), number=1) for p in paths]
    return dict(decode_split_jitter_s=statistics.median(times))


def peak_gflops(sizes, native, before=None):
    """The best matmul rate of fp32 and bf16 over `sizes`, or `before`'s where that was higher
    (other programs on the cores lower a peak, never raise it)."""
    peaks = dict(before or {})
    emulated = (min(sizes[0], 512),)  # emulated bf16 is slow: one small product
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        for n in emulated if name == "bf16" and not native else sizes:
            a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
            torch.mm(a, b)  # the first call allocates and packs
            rate = 2 * n**3 / min(timeit.repeat(partial(torch.mm, a, b), number=1, repeat=3)) / 1e9
            if rate > peaks.get(name, 0):
                peaks.update({name: rate, f"{name}_n": n})
    print(f"matmul peak: {peaks['fp32']:.0f} GFLOP/s fp32, {peaks['bf16']:.0f} bf16")
    return peaks


def measure(pools, task, batch, widths, repeats):
    first = {name: pool.submit(setup, task, batch, widths).result() for name, pool in pools.items()}
    flops = max(pool.submit(settle).result() for pool in pools.values())  # plain's count
    runs = {name: [] for name in pools}
    for r in range(repeats):
        for name in ("plain", "fast") if r % 2 == 0 else ("fast", "plain"):  # who goes first
            runs[name].append(pools[name].submit(timed).result())
    result = {}
    for name, rows in runs.items():
        times, faults = zip(*rows, strict=True)
        median = statistics.median(times)
        result[name] = dict(median_s=median, times_s=times, first_pass_s=first[name])
        result[name].update(page_faults=int(statistics.median(faults)), images_per_s=batch / median)
        result[name]["gflops"] = flops / median / 1e9
    result["gflop_per_pass"] = flops / 1e9  # all `batch` images together
    result["speedup"] = result["plain"]["median_s"] / result["fast"]["median_s"]
    if task == "infer":
        plain, fast = (pools[name].submit(output).result() for name in ("plain", "fast"))
        result["max_abs_diff"] = (plain - fast).abs().max().item()
    return result


def main(argv=None):
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (under 5 minutes)")
    parser.add_argument("--smoke", action="store_true", help="seconds: ngf = ndf = 8, one run")
    parser.add_argument("--json", type=path_arg, help="also write every figure to this JSON file")
    curve = f"also train {CURVE_STEPS} steps fast and fp32 and compare the losses"
    parser.add_argument("--loss-curve", action="store_true", help=curve)
    compile = "where the fast path uses torch.compile (all: training too; minutes) (default: none)"
    parser.add_argument("--compile", choices=tuple(COMPILED), default="none", help=compile)
    add_device_argument(parser)
    args = parser.parse_args(argv)
    try:
        if args.json:
            refuse_overwrite(args.json, flag="--json")
        device = choose_device(args.device)
    except LessonError as exc:
        fail(str(exc))
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    native = native_cpu_bf16()
    flags = sorted((cpu_flags() or set()) & {"avx2", "avx512f", "avx512_bf16", "amx_bf16"})
    report = dict(isa=torch.backends.cpu.get_cpu_capability(), cores=os.cpu_count())
    report.update(torch=torch.__version__, simd=flags, native_bf16=native, device=str(device))
    report.update(mode=mode, compile=args.compile, omp_wait_policy=os.getenv("OMP_WAIT_POLICY"))
    load = getattr(os, "getloadavg", lambda: None)  # not on Windows
    report["gpu"] = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    report["load_average_start"] = load()
    print(json.dumps(report))
    report["peak_gflops"] = peak_gflops(PEAK_SIZES[mode], native)
    spawn = multiprocessing.get_context("spawn")  # fresh interpreters: nothing inherited
    plain, fast = (
        ProcessPoolExecutor(1, spawn, start_worker, (str(device), fast, args.compile))
        for fast in (False, True)
    )
    with plain, fast:
        pools = dict(plain=plain, fast=fast)
        for key, task, batch, widths, repeats, _ in WORKLOADS:
            widths, repeats = ((8, 8), 1) if args.smoke else (widths, repeats[mode == "full"])
            report[key] = result = measure(pools, task, batch, widths, repeats)
            print(f"{key}: {result['speedup']:.2f}x faster", flush=True)
        if args.loss_curve:
            steps, widths = (2 * CURVE_SMOOTH, (8, 8)) if args.smoke else (CURVE_STEPS, (64, 64))
            curves = {n: p.submit(loss_curve, steps, widths).result() for n, p in pools.items()}
            report["loss_curve"] = compare_curves(curves)
            print(f"loss curve ({steps} steps): {report['loss_curve']['max_relative_deviation']}")
    peaks = report["peak_gflops"] = peak_gflops(PEAK_SIZES[mode], native, report["peak_gflops"])
    for key, *_ in WORKLOADS:  # each path's share of the peak of the dtype it computes in
        for name, dtype in (("plain", "fp32"), ("fast", "bf16" if native else "fp32")):
            report[key][name]["of_peak"] = report[key][name]["gflops"] / peaks[dtype]
    report["data"] = data_path(1 if args.smoke else 5 if args.quick else 15)
    differences = [report[key]["max_abs_diff"] for key in ("infer1", "infer8")]
    report["accuracy_ok"] = max(differences) < MAX_ABS_DIFF
    report["inference_speedup"] = report["infer1"]["speedup"]
    report["train_speedup"] = report["train4"]["speedup"]
    report["quick_train_speedup"] = report["quick"]["speedup"]
    report["load_average_end"] = load()
    print(f"data path: {report['data']}; accuracy {'ok' if report['accuracy_ok'] else 'FAILED'}")
    print(table(report))
    if args.json:
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(report, indent=2, default=str))
        print(f"wrote {args.json}")
    return report


def table(report):
    """The figures as docs/speed.rst shows them (fast's share of the peak of its dtype)."""
    lines = [f"{'workload (256x256)':40}  plain fp32  fast path  fast/plain  fast GFLOP/s (peak)"]
    for key, *_, label in WORKLOADS:
        plain, fast, speedup = report[key]["plain"], report[key]["fast"], report[key]["speedup"]
        row = f"{label:40}  {plain['median_s']:8.3f} s  {fast['median_s']:7.3f} s  {speedup:9.2f}x"
        lines.append(f"{row}  {fast['gflops']:.0f} ({100 * fast['of_peak']:.0f}%)")
    return "\n".join(lines)


def compare_curves(curves):
    """Per loss part, the largest relative deviation of fast from fp32 (CURVE_SMOOTH-step means)."""
    deviations = {}
    for part in curves["plain"][0]:
        plain, fast = (torch.tensor([step[part] for step in curves[n]]) for n in ("plain", "fast"))
        plain, fast = (curve.unfold(0, CURVE_SMOOTH, 1).mean(1) for curve in (plain, fast))
        deviations[part] = ((fast - plain).abs() / plain.abs()).max().item()
    ok = all(v <= CURVE_TOLERANCE for v in deviations.values())
    return dict(max_relative_deviation=deviations, within_tolerance=ok, curves=curves)


if __name__ == "__main__":
    main()
