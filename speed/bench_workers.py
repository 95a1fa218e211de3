"""The benchmark's workloads and the two worker processes (plain and fast) that run them; speed/bench.py
drives them. Plain is the official way: the exact fp32 network, NCHW, eager, exercise3_train.py --fp32.
Fast is what the scripts opt into: speed.fast_generator for inference, exercise3_train.py's default
(StepSpeed.choose(device)) for training, with tune_process's process-wide settings."""

import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

import speed
from facades_generator import DEFAULT_CHECKPOINT, SAMPLE_LABELS_DIR, create_facades_generator, load_label
from helpers.images import image_to_tensor
from pix2pix_models import IMAGE_SIZE, PatchGANDiscriminator, PerImageBatchNorm2d, UNetGenerator, init_weights
from training.recipe import BETA1, LAMBDA_L1, LR, StepSpeed, train_step


def usage():
    """(minor page faults so far, peak resident memory in MiB) of this process; zeros where unknown (Windows)."""
    try:
        import resource
    except ImportError:
        return 0, 0.0
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_minflt, own.ru_maxrss / (1 << 20 if sys.platform == "darwin" else 1 << 10)  # bytes / KiB


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
    return dict(G_GAN=parts["G_GAN"], G_L1=parts["G_L1"], D=0.5 * (parts["D_real"] + parts["D_fake"]))


def build_training(device, fp32, ngf, compile, seed=0):
    """G, D and their optimisers as exercise3_train.py builds them (fp32=True: its --fp32)."""
    settings = StepSpeed.choose(device, fp32)
    memory_format, adam = settings.memory_format, settings.adam_options
    torch.manual_seed(seed)
    nets = [init_weights(net).to(device, memory_format=memory_format).train()
            for net in (UNetGenerator(ngf=ngf), PatchGANDiscriminator(ndf=ngf))]
    opts = [torch.optim.Adam(net.parameters(), lr=LR, betas=(BETA1, 0.999), **adam) for net in nets]
    if compile:
        nets = [torch.compile(net) for net in nets]
    return nets, opts, settings


def to_training_input(x, device, settings):
    return x.to(device, memory_format=settings.memory_format)


def build_workload(task, batch, device, fast, ngf, compile):
    """A function doing one timed unit of work, and one giving the output compared for accuracy."""
    if task == "infer":
        torch.manual_seed(0)
        net_G = init_weights(UNetGenerator(ngf=ngf, norm_layer=PerImageBatchNorm2d)).eval().to(device)
        if DEFAULT_CHECKPOINT.is_file() and ngf == 64:  # the real weights if downloaded: the accuracy check means more
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
    (net_G, net_D), (opt_G, opt_D), settings = build_training(device, not fast, ngf, compile)
    g = torch.Generator().manual_seed(1)
    real_A, real_B = (to_training_input(torch.rand(batch, 3, IMAGE_SIZE, IMAGE_SIZE, generator=g) * 2 - 1, device,
                                        settings) for _ in range(2))

    def step():
        losses = bench_step(net_G, net_D, opt_G, opt_D, settings, real_A, real_B)
        sync(device)
        return losses
    return step, None


def curve_pairs(count=8):
    """`count` demo pairs (sketch, colour) as (1, 3, 256, 256) tensors: the demo set without the disk."""
    from helpers.anime_demo import draw_demo_pair
    pairs = []
    for index in range(count):
        pair = draw_demo_pair(seed=0, index=index)
        half = pair.width // 2
        color, sketch = (pair.crop(box).resize((IMAGE_SIZE, IMAGE_SIZE)) for box in
                          ((0, 0, half, pair.height), (half, 0, pair.width, pair.height)))
        pairs.append((image_to_tensor(sketch)[None], image_to_tensor(color)[None]))
    return pairs


def describe(device, fast, ngf):
    if not fast:
        return f"plain on {device}: exact fp32 network, NCHW, eager, plain Adam (exercise3_train.py --fp32)"
    settings = StepSpeed.choose(device, fp32=False)
    dtype, memory_format, adam = settings.dtype, settings.memory_format, settings.adam_options
    return "\n".join([f"fast on {device}:", f"  inference: {speed.choose_inference(device).describe()}",
                      f"  training: autocast {dtype}, {memory_format}, Adam {adam or 'plain'}"])


def worker(conn, device_name, fast, compile, ngf):
    """Serve commands from the parent: ('setup', task, batch), ('run',), ('output',), ('curve', steps), ('stop',)."""
    if ngf < 64:  # --smoke: tiny networks are all small ops, which a busy machine's thread hand-offs dominate
        torch.set_num_threads(1)
    device = torch.device(device_name)
    tuned = speed.tune_process(device) if fast else []  # process-wide: why plain and fast need their own processes
    conn.send("\n".join([describe(device, fast, ngf)] + [f"  {line}" for line in tuned]))
    run = output = None
    while True:
        command = conn.recv()
        if command[0] == "stop":
            return
        if command[0] == "setup":
            task = command[1]
            use_compile = fast and (compile == "all" or (compile == "inference" and task == "infer"))
            run, output = build_workload(task, command[2], device, fast, ngf, use_compile)
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
            (net_G, net_D), (opt_G, opt_D), settings = build_training(device, not fast, ngf, compile=False)
            pairs = [tuple(to_training_input(t, device, settings) for t in p) for p in curve_pairs()]
            conn.send([bench_step(net_G, net_D, opt_G, opt_D, settings, *pairs[i % len(pairs)])
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


def data_path(repeats):
    """Seconds per pair: decode a 1024x512 PNG, split it, jitter both halves alike; and preprocessing."""
    from PIL import Image
    from torchvision.transforms.v2 import functional as TF

    import preprocess_anime_sketches as prep
    from training.data import PairedSketchDataset
    from helpers.anime_demo import draw_demo_pair
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
            halves = torch.stack([pair[:, :, :pair.shape[2] // 2], pair[:, :, pair.shape[2] // 2:]])
            dataset.jitter(halves, seed=index).float().div(127.5).sub(1.0)
            times.append(time.perf_counter() - start)
        result["decode_split_jitter_s"] = statistics.median(times)
        out = tmp / "out"
        for kind in ("colors", "sketches"):
            (out / kind).mkdir(parents=True)
        start = time.perf_counter()
        statuses = [prep.process_pair((source, out, source.stem, IMAGE_SIZE))[0] for source in sources]
        seconds = time.perf_counter() - start
        result["preprocess_pairs_per_s_one_core"] = len(sources) / seconds
        result["preprocess_statuses"] = sorted(set(statuses))
    return result
