"""The opt-in speed layer and the benchmark: each fast path computes what the exact fp32 network
computes. Precisions are forced on tiny networks, not read from this machine, so the same checks
run on every CPU class and under ONEDNN_MAX_CPU_ISA=AVX2; speed-ups are benchmark/bench.py's job."""

import json
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

import speed
from benchmark import bench
from pix2pix_models import PatchGANDiscriminator, PerImageBatchNorm2d, UNetGenerator
from pix2pix_models import init_weights, translate
from speed import precision
from speed.cpu_kernels import GroupNormPerImage, PackedConv, can_pack, pack_convolutions
from speed.cpu_kernels import use_group_norm
from training import recipe

# G's output on [-1, 1]: fp32 only reorders sums; bf16 keeps 8 bits of mantissa
TOLERANCE = {torch.float32: 1e-4, torch.bfloat16: 0.05}
pytestmark = pytest.mark.usefixtures("one_thread")  # small networks (tests/conftest.py says why)


def small_generator(norm_layer=PerImageBatchNorm2d):
    torch.manual_seed(0)
    return init_weights(UNetGenerator(ngf=8, norm_layer=norm_layer)).eval()


def images(batch=3, seed=1, size=256):
    return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize("prepack", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fast_generator_matches_the_exact_network(dtype, prepack, capsys):
    if prepack and not can_pack(dtype):
        pytest.skip(f"this PyTorch's oneDNN cannot pack {dtype} weights on this CPU")
    net_G = small_generator()
    fast_G = speed.fast_generator(net_G, "cpu", dtype=dtype, prepack=prepack)
    assert "fast inference on cpu: weights" in capsys.readouterr().out
    x = images()
    with torch.inference_mode():
        expected = net_G(x)
        got = translate(fast_G, x, batch_size=2)  # batches of 2 and 1: two packed shapes
    assert got.dtype == torch.float32 and got.is_contiguous() and got.shape == expected.shape
    assert (got - expected).abs().max().item() < TOLERANCE[dtype]
    assert any(isinstance(m, PackedConv) for m in fast_G.modules()) == prepack
    assert {p.dtype for p in net_G.parameters()} == {torch.float32}  # the exact one, untouched
    assert not any(isinstance(m, (GroupNormPerImage, PackedConv)) for m in net_G.modules())


def test_group_norm_kernel_equals_per_image_batchnorm():
    net_G, fast_G = small_generator(), use_group_norm(small_generator())
    assert sum(isinstance(m, GroupNormPerImage) for m in fast_G.modules()) == 13  # 6 down, 7 up
    assert list(fast_G.state_dict()) == list(net_G.state_dict())
    x = images(batch=2).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():  # channels_last: the layout the kernel is there for
        got = fast_G.to(memory_format=torch.channels_last)(x)
        assert (got - net_G(x)).abs().max().item() < 1e-4


@pytest.mark.skipif(not can_pack(torch.float32), reason="this PyTorch has no oneDNN weight packing")
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_packed_convolutions_equal_the_modules_they_replace(layout):
    torch.manual_seed(0)
    down = torch.nn.Conv2d(3, 16, 4, stride=2, padding=1, bias=False)
    up = torch.nn.ConvTranspose2d(16, 3, 4, stride=2, padding=1)  # a bias, as G's last layer
    net = torch.nn.Sequential(down, up).to(memory_format=layout)
    x = images(size=64).contiguous(memory_format=layout)
    with torch.inference_mode():
        expected, keys = net(x), list(net.state_dict())
        pack_convolutions(net)
        assert all(isinstance(m, PackedConv) for m in net) and list(net.state_dict()) == keys
        for batch in (1, 3, 2, 3):  # a packed copy per input shape, at most MAX_SHAPES kept
            assert (net(x[:batch]) - expected[:batch]).abs().max().item() < 1e-5
        assert len(net[0]._packed) == PackedConv.MAX_SHAPES
        net.load_state_dict({**net.state_dict(), "0.weight": 2 * net[0].weight})
        assert not net[0]._packed  # new weights: the next call packs them afresh
        assert (net[0](x) - F.conv2d(x, net[0].weight, stride=2, padding=1)).abs().max() < 1e-4


@pytest.mark.parametrize(
    "device, capability, native, dtype",
    [
        ("cpu", None, False, torch.float32),  # AVX2 only: bf16 would be emulated
        ("cpu", None, True, torch.bfloat16),  # AVX512_BF16 or AMX
        ("cuda:0", (7, 5), False, torch.float16),  # before Ampere
        ("cuda:0", (9, 0), False, torch.bfloat16),
        ("mps", None, False, torch.float16),
    ],
)
def test_each_device_gets_its_native_precision(monkeypatch, device, capability, native, dtype):
    monkeypatch.setattr(precision, "native_cpu_bf16", lambda: native)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda index=None: capability)
    settings, cpu = speed.choose_inference(device), device == "cpu"
    assert speed.inference_dtype(device) == settings.dtype == dtype
    assert settings.channels_last == (device != "mps") and settings.group_norm == cpu
    assert settings.prepack == (cpu and can_pack(dtype))


@pytest.mark.parametrize(
    "flags, isa, onednn, native",
    [
        ({"avx2", "fma", "avx512f"}, "", True, False),  # AVX-512 alone: oneDNN emulates bf16
        ({"avx512f", "avx512_bf16"}, "", True, True),  # Zen 4/5
        ({"avx512f", "avx512_bf16", "amx_bf16"}, "AVX2", True, False),  # the cap emulates bf16
        ({"avx512f", "avx512_bf16", "amx_bf16"}, "", False, False),  # a oneDNN without bf16
    ],
)
def test_native_bf16_is_read_from_cpu_flags_and_onednn(monkeypatch, flags, isa, onednn, native):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", isa)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: onednn)
    monkeypatch.setattr(precision, "cpu_flags", lambda: flags)
    assert precision.native_cpu_bf16() == native


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fast_training_steps_follow_the_fp32_steps(monkeypatch, dtype):
    """Exercise 3's default (the benchmark's fast training) against --fp32, precision forced."""
    monkeypatch.setattr(recipe, "training_dtype", lambda device: dtype)
    losses = {}
    for fp32 in (True, False):
        how = recipe.StepSpeed.choose(torch.device("cpu"), fp32)
        torch.manual_seed(0)
        nets = [init_weights(net) for net in (UNetGenerator(ngf=8), PatchGANDiscriminator(ndf=8))]
        nets = [net.to(memory_format=how.memory_format) for net in nets]
        adam = dict(lr=recipe.LR, betas=(recipe.BETA1, 0.999), **how.adam_options)
        opts = [torch.optim.Adam(net.parameters(), **adam) for net in nets]
        real_A, real_B = (images(2, seed).to(memory_format=how.memory_format) for seed in (2, 3))
        torch.manual_seed(1)  # the same dropout masks in both runs
        steps = (recipe.train_step(*nets, *opts, real_A, real_B, 100, how) for _ in range(3))
        losses[fp32] = [step["G_L1"] for step in steps]
    assert losses[False] == pytest.approx(losses[True], rel=TOLERANCE[dtype])


@pytest.mark.slow  # a fresh interpreter: the tuning is process-wide and cannot be undone
@pytest.mark.skipif(not precision.GLIBC, reason="allocator tuning is for glibc on Linux")
def test_allocator_tuning_is_idempotent_and_reuses_memory():
    probe = (  # 64 MiB, freed at once: above any mmap threshold glibc picks by itself
        "import resource, torch\nfrom speed import precision\ndef faults():\n"
        "    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "    torch.empty(16 << 20).fill_(1.0)\n"
        "    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before\n"
        "plain, tune = min(faults() for _ in range(3)), precision.tune_allocator\n"
        "print(tune(), tune(), plain, min(faults() for _ in range(10)))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=bench.ROOT, capture_output=True)
    first, second, plain, tuned = done.stdout.split()
    assert first == second == b"True"
    assert int(plain) >= 16_000 and int(tuned) == 0  # 16k pages fault per pass, then none


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("PIX2PIX_SLOW_TESTS") != "1", reason="minutes of compiling")
@pytest.mark.parametrize("norm_layer", [PerImageBatchNorm2d, torch.nn.BatchNorm2d])  # frozen or not
def test_compiled_generator_equals_eager(norm_layer):
    """Freezing has folded running-statistics BatchNorm wrongly into the innermost ConvTranspose2d
    (docs/speed.rst): compile_for_inference must give eager fp32's output either way."""
    net_G = small_generator(norm_layer)
    for m in net_G.modules():  # statistics far from (0, 1), so that a wrong fold would show
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    settings = speed.choose_inference("cpu", dtype=torch.float32, compile=True)
    if not settings.compile:
        pytest.skip("torch.compile needs a C++ compiler")
    x = images(batch=1)
    with torch.inference_mode():
        assert (speed.FastGenerator(net_G, settings)(x) - net_G(x)).abs().max().item() < 1e-4


@pytest.mark.slow  # two worker processes, half a minute
def test_benchmark_smoke_run_writes_its_figures(tmp_path):
    path = tmp_path / "bench.json"
    bench.main(["--smoke", "--loss-curve", "--json", str(path)])
    report = json.loads(path.read_text())
    assert min(report[k] for k in ("inference_speedup", "train_speedup", "quick_train_speedup")) > 0
    assert report["accuracy_ok"] and report["loss_curve"]["max_relative_deviation"]
    assert report["infer1"]["plain"]["gflops"] > 0 and report["data"]["decode_split_jitter_s"] > 0


def test_benchmark_refuses_to_write_its_figures_over_a_weights_file(capsys):
    with pytest.raises(SystemExit) as stop:
        bench.main(["--smoke", "--json", str(bench.ROOT / "weights.pth")])
    assert stop.value.code == 2 and "--json" in capsys.readouterr().err
