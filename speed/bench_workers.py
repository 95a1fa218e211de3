"""The benchmark's workloads and the two worker processes (plain and fast) that run them;
speed/bench.py drives them.

Plain runs the networks as train.py and test.py of junyanz/pytorch-CycleGAN-and-pix2pix do: the
exact fp32 network, NCHW, eager (exercise3_train.py --fp32). Fast is what the scripts opt into:
speed.fast_generator for inference, exercise3_train.py's default (StepSpeed.choose(device)) for
training, with tune_process's process-wide settings.
"""

import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

import speed
from facades_generator import DEFAULT_CHECKPOINT, create_facades_generator, load_label
from helpers.facade_labels import SAMPLE_LABELS_DIR
from helpers.lesson import image_to_tensor
from pix2pix_models import (
    IMAGE_SIZE,
    PatchGANDiscriminator,
    PerImageBatchNorm2d,
    UNetGenerator,
    init_weights,
)
from training.recipe import BETA1, LAMBDA_L1, LR, StepSpeed, train_step

COMPILED_TASKS = {"none": (), "inference": ("infer",), "all": ("infer", "train")}  # --compile


def usage():
    """(minor page faults so far, peak resident memory in MiB) of this process; zeros where
    unknown (Windows)."""
    try:
        import resource
    except ImportError:
        return 0, 0.0
    own = resource.getrusage(resource.RUSAGE_SELF)
    unit = 1 << 20 if sys.platform == "darwin" else 1 << 10  # ru_maxrss: bytes on macOS, else KiB
    return own.ru_minflt, own.ru_maxrss / unit


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def sample_labels(batch):
    """The shipped sample labels (CMP-style maps) repeated to `batch`, as (batch, 3, 256, 256)."""
    paths = sorted(SAMPLE_LABELS_DIR.glob("*.png"))
    return torch.stack([load_label(paths[i % len(paths)]) for i in range(batch)])


def bench_step(net_G, net_D, opt_G, opt_D, speed_settings, real_A, real_B):
    """Exercise 3's own training step (D then G); D's two halves are reported as one loss, D."""
    parts = train_step(net_G, net_D, opt_G, opt_D, real_A, real_B, LAMBDA_L1, speed_settings)
    loss_D = 0.5 * (parts["D_real"] + parts["D_fake"])
    return dict(G_GAN=parts["G_GAN"], G_L1=parts["G_L1"], D=loss_D)


def build_training(device, fp32, widths, compile, seed=0):
    """G, D and their optimisers as exercise3_train.py builds them (fp32=True: its --fp32)."""
    settings = StepSpeed.choose(device, fp32)
    torch.manual_seed(seed)
    nets = []
    opts = []
    ngf, ndf = widths
    for net in (UNetGenerator(ngf=ngf), PatchGANDiscriminator(ndf=ndf)):
        net = init_weights(net).to(device, memory_format=settings.memory_format).train()
        nets.append(net)
        adam = settings.adam_options
        opts.append(torch.optim.Adam(net.parameters(), lr=LR, betas=(BETA1, 0.999), **adam))
    if compile:
        nets = [torch.compile(net) for net in nets]
    return nets, opts, settings


def to_training_input(x, device, settings):
    return x.to(device, memory_format=settings.memory_format)


def build_workload(task, batch, device, fast, widths, compile):
    """A function doing one timed unit of work, and one giving the output compared for accuracy
    (None for training)."""
    if task == "infer":
        torch.manual_seed(0)
        ngf = widths[0]
        net_G = UNetGenerator(ngf=ngf, norm_layer=PerImageBatchNorm2d)
        net_G = init_weights(net_G).eval().to(device)
        if DEFAULT_CHECKPOINT.is_file() and ngf == 64:  # real weights: a more telling accuracy
            net_G = create_facades_generator(DEFAULT_CHECKPOINT, device)
        if fast:
            net_G = speed.FastGenerator(net_G, speed.choose_inference(device, compile=compile))
        x = sample_labels(batch).to(device)

        def run():
            with torch.inference_mode():
                out = net_G(x)
            sync(device)
            return out

        return run, lambda: run().float().cpu().contiguous()
    (net_G, net_D), (opt_G, opt_D), settings = build_training(device, not fast, widths, compile)
    g = torch.Generator().manual_seed(1)
    real_A = torch.rand(batch, 3, IMAGE_SIZE, IMAGE_SIZE, generator=g) * 2 - 1
    real_B = torch.rand(batch, 3, IMAGE_SIZE, IMAGE_SIZE, generator=g) * 2 - 1
    real_A = to_training_input(real_A, device, settings)
    real_B = to_training_input(real_B, device, settings)

    def step():
        losses = bench_step(net_G, net_D, opt_G, opt_D, settings, real_A, real_B)
        sync(device)
        return losses

    return step, None


def curve_pairs(count=8):
    """`count` demo pairs (sketch, colour) as (1, 3, 256, 256) tensors: the demo set without the
    disk."""
    from helpers.anime_demo import draw_demo_pair

    pairs = []
    for index in range(count):
        pair = draw_demo_pair(seed=0, index=index)
        half = pair.width // 2
        color = pair.crop((0, 0, half, pair.height)).resize((IMAGE_SIZE, IMAGE_SIZE))
        sketch = pair.crop((half, 0, pair.width, pair.height)).resize((IMAGE_SIZE, IMAGE_SIZE))
        pairs.append((image_to_tensor(sketch)[None], image_to_tensor(color)[None]))
    return pairs


def describe(device, fast):
    if not fast:
        return (
            f"plain on {device}: exact fp32 network, NCHW, eager, plain Adam "
            "(exercise3_train.py --fp32)"
        )
    step = StepSpeed.choose(device, fp32=False)
    training = f"autocast {step.dtype}, {step.memory_format}, Adam {step.adam_options or 'plain'}"
    inference = speed.choose_inference(device).describe()
    return f"fast on {device}:\n  inference: {inference}\n  training: {training}"


def worker(conn, device_name, fast, compile):
    """Serve commands from the parent: ('setup', task, batch, (ngf, ndf)), ('run',), ('output',),
    ('curve', steps, (ngf, ndf)), ('stop',)."""
    device = torch.device(device_name)
    # Process-wide and for good: why plain and fast need processes of their own.
    tuned = speed.tune_process(device) if fast else []
    conn.send("\n".join([describe(device, fast)] + [f"  {line}" for line in tuned]))
    run = output = None
    while True:
        command = conn.recv()
        if command[0] == "stop":
            return
        if command[0] == "setup":  # ("setup", task, batch, (ngf, ndf))
            task, batch, widths = command[1:]
            if (
                max(widths) < 16
            ):  # --smoke's tiny networks are all small ops: thread hand-offs dominate
                torch.set_num_threads(1)
            use_compile = fast and task in COMPILED_TASKS[compile]
            run, output = build_workload(task, batch, device, fast, widths, use_compile)
            start = time.perf_counter()
            run()  # first pass: oneDNN primitive creation, autotuning, compiling, heap growth
            conn.send(time.perf_counter() - start)
        elif command[0] == "run":
            faults = usage()[0]
            start = time.perf_counter()
            run()
            seconds = time.perf_counter() - start
            faults_after, peak_rss = usage()
            conn.send((seconds, faults_after - faults, peak_rss))
        elif command[0] == "output":
            conn.send(output())
        elif command[0] == "curve":  # ("curve", steps, (ngf, ndf))
            conn.send(loss_curve(device, fast, command[2], steps=command[1]))


def loss_curve(device, fast, widths, steps):
    """Each step's losses over `steps` training steps on the demo pairs, in turn."""
    (net_G, net_D), (opt_G, opt_D), settings = build_training(device, not fast, widths, False)
    pairs = []
    for sketch, color in curve_pairs():
        real_A = to_training_input(sketch, device, settings)
        real_B = to_training_input(color, device, settings)
        pairs.append((real_A, real_B))
    curve = []
    for i in range(steps):
        real_A, real_B = pairs[i % len(pairs)]
        curve.append(bench_step(net_G, net_D, opt_G, opt_D, settings, real_A, real_B))
    return curve


class Pair:
    """The plain and the fast worker processes, driven one timed run at a time."""

    def __init__(self, device, compile):
        context = mp.get_context("spawn")  # a fresh interpreter each: nothing inherited
        self.conns = {}
        self.procs = []
        self.describe = {}
        for name, fast in (("plain", False), ("fast", True)):
            parent, child = context.Pipe()
            args = (child, str(device), fast, compile)
            proc = context.Process(target=worker, args=args, daemon=True)
            proc.start()
            self.conns[name] = parent
            self.describe[name] = parent.recv()
            self.procs.append(proc)

    def ask(self, name, *command):
        self.conns[name].send(command)
        return self.conns[name].recv()

    def measure(self, task, batch, widths, repeats):
        first = {name: self.ask(name, "setup", task, batch, widths) for name in self.conns}
        for name in self.conns:  # a second untimed pass: the heap and the caches settle
            self.ask(name, "run")
        times, faults, rss = ({name: [] for name in self.conns} for _ in range(3))
        for r in range(repeats):
            order = ("plain", "fast") if r % 2 == 0 else ("fast", "plain")  # who goes first
            for name in order:
                seconds, page_faults, peak_rss = self.ask(name, "run")
                times[name].append(seconds)
                faults[name].append(page_faults)
                rss[name].append(peak_rss)
        return {
            name: dict(
                median_s=statistics.median(times[name]),
                min_s=min(times[name]),
                times_s=times[name],
                first_pass_s=first[name],
                page_faults=int(statistics.median(faults[name])),
                peak_rss_mib_so_far=max(rss[name]),
            )
            for name in self.conns
        }

    def close(self):
        for name in self.conns:
            self.conns[name].send(("stop",))
        for proc in self.procs:
            proc.join(timeout=30)


def data_path(repeats):
    """Seconds per pair: decode a 1024x512 PNG, split it, jitter both halves alike; and the pairs
    per second preprocessing splits on one core."""
    from PIL import Image
    from torchvision.transforms.v2 import functional as TF

    from helpers.anime_demo import draw_demo_pair
    from preprocessing.pairs import process_pair
    from training.data import PairedSketchDataset

    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sources = []
        for index in range(repeats):
            sources.append(tmp / f"{index}.png")
            draw_demo_pair(seed=0, index=index).save(sources[-1])
        dataset = PairedSketchDataset([], IMAGE_SIZE)
        times = []
        for index, source in enumerate(sources):
            start = time.perf_counter()
            with Image.open(source) as image:
                pair = TF.pil_to_tensor(image.convert("RGB"))  # (3, 512, 1024) uint8
            half = pair.shape[2] // 2
            halves = torch.stack([pair[:, :, :half], pair[:, :, half:]])
            dataset.jitter(halves, seed=index).float().div(127.5).sub(1.0)
            times.append(time.perf_counter() - start)
        result["decode_split_jitter_s"] = statistics.median(times)
        out = tmp / "out"
        for kind in ("colors", "sketches"):
            (out / kind).mkdir(parents=True)
        start = time.perf_counter()
        statuses = [process_pair((source, out, source.stem, IMAGE_SIZE))[0] for source in sources]
        seconds = time.perf_counter() - start
        result["preprocess_pairs_per_s_one_core"] = len(sources) / seconds
        result["preprocess_statuses"] = sorted(set(statuses))
    return result
