"""Benchmark: the plain fp32 eager path (the official implementation's way) against the project's fast path.

    python benchmarks/bench.py --quick                  # about 3-5 minutes on 2 CPU cores
    python benchmarks/bench.py --json bench.json        # more repeats; writes every figure as JSON
    python benchmarks/bench.py --loss-curve             # also 50 training steps, fast vs fp32 loss curves
    python benchmarks/bench.py --smoke                  # seconds: tiny networks, checks that it all runs
    python benchmarks/bench.py --compile inference      # the fast path with torch.compile (minutes to compile)
    OMP_WAIT_POLICY=PASSIVE python benchmarks/bench.py  # on a busy machine (see the Speed section of README.rst)

Measures, at 256x256 with the full networks (ngf = ndf = 64): the machine's matmul peak (fp32, bf16),
generator inference (batch 1 and 8, per-image statistics as the exercises use), one pix2pix training
iteration (batch 1 and 4: G and D forward, GAN + 100 * L1 losses, backward, two Adam steps), the fast
path's accuracy (max |fast - fp32| of G's output), the data path and preprocessing. Prints a table;
writes nothing unless --json is given (top level: inference_speedup, batch 1, and train_speedup, batch 4).

Plain and fast each run in their own worker process, because allocator settings are process-wide and
cannot be undone; the parent alternates single timed runs between the two, so both see the same load.
"""

import argparse
import json
import multiprocessing as mp
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

import fast_paths  # noqa: E402
from exercise3_train import BETA1, LAMBDA_L1, LR, train_step  # noqa: E402
from lesson_utils import atomic_path, choose_device  # noqa: E402
from pix2pix_models import PatchGANDiscriminator, PerImageBatchNorm2d, UNetGenerator, init_weights  # noqa: E402

SIZE = 256  # the paper's resolution; unet_256 needs it
MAX_ABS_DIFF = 0.05  # accuracy bar for the fast path's G output on [-1, 1]
CURVE_STEPS, CURVE_SMOOTH, CURVE_TOLERANCE = 50, 10, 0.05  # loss-curve check: steps, moving average, 5%


def usage():
    """(minor page faults so far, peak resident memory in MiB) of this process; zeros where unknown (Windows)."""
    try:
        import resource
    except ImportError:
        return 0, 0.0
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_minflt, own.ru_maxrss / (1 << 20 if sys.platform == "darwin" else 1 << 10)  # bytes / KiB


def load_average():
    return os.getloadavg() if hasattr(os, "getloadavg") else None  # the machine's business; none on Windows


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def sample_labels(batch):
    """The shipped sample labels (real CMP-style maps) repeated to `batch`, as (batch, 3, 256, 256)."""
    from facades_generator import load_label
    paths = sorted((ROOT / "sample_facades" / "base").glob("*.png"))
    if not paths:
        return torch.rand(batch, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0)) * 2 - 1
    return torch.stack([load_label(paths[i % len(paths)]) for i in range(batch)])


def bench_step(net_G, net_D, opt_G, opt_D, scaler, real_A, real_B, fast):
    """Exercise 3's own training step (D then G); D's two halves are reported as one loss, D."""
    parts = train_step(net_G, net_D, opt_G, opt_D, real_A, real_B, LAMBDA_L1, fast, scaler)
    return dict(G_GAN=parts["G_GAN"], G_L1=parts["G_L1"], D=0.5 * (parts["D_real"] + parts["D_fake"]))


def build_training(fast, ngf, seed=0):
    torch.manual_seed(seed)
    nets = [fast_paths.prepare_for_training(init_weights(net), fast)
            for net in (UNetGenerator(ngf=ngf), PatchGANDiscriminator(ndf=ngf))]
    opts = [torch.optim.Adam(net.parameters(), lr=LR, betas=(BETA1, 0.999), **fast.adam_options) for net in nets]
    nets = [fast_paths.maybe_compile(net, fast) for net in nets]
    return nets, opts, fast_paths.make_grad_scaler(fast)


def build_workload(task, batch, fast, ngf):
    """A function doing one timed unit of work, and one giving the output compared for accuracy."""
    if task == "infer":
        torch.manual_seed(0)
        net_G = init_weights(UNetGenerator(ngf=ngf, norm_layer=PerImageBatchNorm2d)).eval()
        checkpoint = ROOT / "checkpoints" / "facades_generator.pth"
        if checkpoint.is_file() and ngf == 64:  # the real weights if downloaded: the accuracy check then means more
            from facades_generator import create_facades_generator
            net_G = create_facades_generator(checkpoint)
        net_G = fast_paths.prepare_generator_for_inference(net_G, fast)
        x = fast_paths.prepare_input(sample_labels(batch), fast)

        def run():
            with torch.inference_mode():
                out = net_G(x)
            sync(fast.device)
            return out
        return run, lambda: run().float().cpu().contiguous()
    (net_G, net_D), (opt_G, opt_D), scaler = build_training(fast, ngf)
    g = torch.Generator().manual_seed(1)
    real_A, real_B = (fast_paths.prepare_input(torch.rand(batch, 3, SIZE, SIZE, generator=g) * 2 - 1, fast,
                                               training=True) for _ in range(2))

    def step():
        losses = bench_step(net_G, net_D, opt_G, opt_D, scaler, real_A, real_B, fast)
        sync(fast.device)
        return losses
    return step, None


def curve_pairs(count=8):
    """`count` demo pairs (sketch, colour) as (1, 3, 256, 256) tensors: the demo set without the disk."""
    from anime_demo_pairs import draw_demo_pair
    from lesson_utils import image_to_tensor
    pairs = []
    for index in range(count):
        pair = draw_demo_pair(seed=0, index=index)
        half = pair.width // 2
        colour, sketch = (pair.crop(box).resize((SIZE, SIZE)) for box in
                          ((0, 0, half, pair.height), (half, 0, pair.width, pair.height)))
        pairs.append((image_to_tensor(sketch)[None], image_to_tensor(colour)[None]))
    return pairs


def worker(conn, device_name, enabled, compile, ngf):
    """Serve commands from the parent: ('setup', task, batch), ('run',), ('output',), ('curve',), ('stop',)."""
    if ngf < 64:  # --smoke: tiny networks are all small ops, which a busy machine's thread hand-offs dominate
        torch.set_num_threads(1)
    fast = fast_paths.activate(fast_paths.choose_fast_path(device_name, enabled=enabled, compile=compile != "none"))
    conn.send(fast.describe())
    compiled = fast
    run = output = None
    while True:
        command = conn.recv()
        if command[0] == "stop":
            return
        if command[0] == "setup":
            fast = replace(compiled, compile=compiled.compile and (compile == "all" or command[1] == "infer"))
            run, output = build_workload(command[1], command[2], fast, ngf)
            start = time.perf_counter()
            run()  # first pass: oneDNN primitive creation, autotuning, compiling, heap growth
            conn.send(time.perf_counter() - start)
        elif command[0] == "run":
            faults = usage()[0]
            start = time.perf_counter()
            run()
            seconds, (faults_after, peak_rss) = time.perf_counter() - start, usage()
            conn.send((seconds, faults_after - faults, peak_rss))
        elif command[0] == "output":
            conn.send(output())
        elif command[0] == "curve":  # ("curve", steps)
            (net_G, net_D), (opt_G, opt_D), scaler = build_training(fast, ngf, seed=0)
            pairs = [tuple(fast_paths.prepare_input(t, fast, training=True) for t in p) for p in curve_pairs()]
            conn.send([bench_step(net_G, net_D, opt_G, opt_D, scaler, *pairs[i % len(pairs)], fast)
                       for i in range(command[1])])


class Pair:
    """The plain and the fast worker processes, driven one timed run at a time."""

    def __init__(self, device, compile, ngf):
        context = mp.get_context("spawn")  # a fresh interpreter each: nothing inherited from this one
        self.conns, self.procs, self.describe = {}, [], {}
        for name, enabled in (("plain", False), ("fast", True)):
            parent, child = context.Pipe()
            proc = context.Process(target=worker, args=(child, str(device), enabled, compile, ngf),
                                   daemon=True)
            proc.start()
            self.conns[name], self.describe[name] = parent, parent.recv()
            self.procs.append(proc)

    def ask(self, name, *command):
        self.conns[name].send(command)
        return self.conns[name].recv()

    def measure(self, task, batch, repeats):
        first = {name: self.ask(name, "setup", task, batch) for name in self.conns}
        for name in self.conns:  # a second untimed pass: the heap and the caches settle
            self.ask(name, "run")
        times, faults, rss = ({name: [] for name in self.conns} for _ in range(3))
        for r in range(repeats):
            for name in (("plain", "fast") if r % 2 == 0 else ("fast", "plain")):  # alternate who goes first
                seconds, page_faults, peak_rss = self.ask(name, "run")
                times[name].append(seconds)
                faults[name].append(page_faults)
                rss[name].append(peak_rss)
        return {name: dict(median_s=statistics.median(times[name]), min_s=min(times[name]), times_s=times[name],
                           first_pass_s=first[name], page_faults=int(statistics.median(faults[name])),
                           peak_rss_mib_so_far=max(rss[name])) for name in self.conns}

    def close(self):
        for name in self.conns:
            self.conns[name].send(("stop",))
        for proc in self.procs:
            proc.join(timeout=30)


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
            net_G(torch.empty(1, 3, SIZE, SIZE))
        net_G, net_D = UNetGenerator(ngf=ngf), PatchGANDiscriminator(ndf=ngf)
        opt_G, opt_D = (torch.optim.Adam(net.parameters(), lr=LR, betas=(BETA1, 0.999)) for net in (net_G, net_D))
        real = torch.empty(1, 3, SIZE, SIZE)
        with FlopCounterMode(display=False) as iteration:  # the shape of train_step(); BCE vs mean: same FLOPs
            fake_B = net_G(real)
            (net_D(real, real).mean() + net_D(real, fake_B.detach()).mean()).backward()
            opt_D.step()
            net_D.requires_grad_(False)
            (net_D(real, fake_B).mean() + F.l1_loss(fake_B, real)).backward()
            opt_G.step()
    return forward.get_total_flops(), iteration.get_total_flops()


def data_path(repeats):
    """Seconds per pair: decode a 1024x512 PNG, split it, jitter both halves alike; and preprocessing."""
    from anime_demo_pairs import draw_demo_pair
    from anime_pairs import PairedSketchDataset
    from PIL import Image
    from torchvision.transforms.v2 import functional as TF
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sources = []
        for index in range(repeats):
            sources.append(tmp / f"{index}.png")
            draw_demo_pair(seed=0, index=index).save(sources[-1])
        dataset = PairedSketchDataset([], SIZE)
        times = []
        for index, source in enumerate(sources):
            start = time.perf_counter()
            with Image.open(source) as image:
                pair = TF.pil_to_tensor(image.convert("RGB"))  # (3, 512, 1024) uint8
            halves = torch.stack([pair[:, :, :pair.shape[2] // 2], pair[:, :, pair.shape[2] // 2:]])
            dataset.jitter(halves, seed=index).float().div(127.5).sub(1.0)
            times.append(time.perf_counter() - start)
        result["decode_split_jitter_s"] = statistics.median(times)
        try:
            import preprocess_anime_sketches as prep
        except ImportError:
            result["preprocess"] = "skipped: preprocess_anime_sketches.py not found"
            return result
        out = tmp / "out"
        for kind in ("colors", "sketches"):
            (out / kind).mkdir(parents=True)
        start = time.perf_counter()
        statuses = [prep.process_pair((source, out, SIZE))[0] for source in sources]
        seconds = time.perf_counter() - start
        result["preprocess_pairs_per_s_one_core"] = len(sources) / seconds
        result["preprocess_statuses"] = sorted(set(statuses))
    return result


def machine():
    flags = fast_paths.cpu_flags() or set()
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() \
        else platform.processor()
    return dict(cpu=model, cores=os.cpu_count(), torch_threads=torch.get_num_threads(), torch=torch.__version__,
                capability=torch.backends.cpu.get_cpu_capability(), native_bf16=fast_paths.native_cpu_bf16(),
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
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
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
