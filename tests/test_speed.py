"""The speed layer: what it chooses per device, and that it computes what the exact fp32 network
computes.

Every test of a precision path forces that precision on a tiny network (ngf = 8) instead of
trusting what this machine would pick, so the suite checks the same things on an AVX2-only CPU
(where bf16 is emulated, cheap at this size), on one with native bf16 or AMX, and under
ONEDNN_MAX_CPU_ISA=AVX2. The full-size speed-ups are the benchmark's job (speed/bench.py), never
a timed test's.
"""

import copy
import os
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F

import speed
from facades_generator import create_facades_generator
from helpers.lesson import ROOT
from pix2pix_models import (
    PatchGANDiscriminator,
    PerImageBatchNorm2d,
    UNetGenerator,
    init_weights,
    translate,
)
from speed import precision
from speed.cpu_kernels import (
    GroupNormPerImage,
    PackedConv,
    can_pack,
    pack_convolutions,
    use_group_norm,
)
from tests.official_reference import random_official_state_dict
from training import recipe
from training.recipe import BETA1, LR, StepSpeed, train_step

SLOW = os.environ.get("PIX2PIX_SLOW_TESTS") == "1"
# Tolerances on G's output in [-1, 1]: fp32 reorders sums (~1e-5); bf16 keeps 8 bits of mantissa
# (~1e-2; docs/speed.rst gives what the full-size generator measures).
TOLERANCE = {torch.float32: 1e-4, torch.bfloat16: 0.05}


# Small networks: one thread (tests/conftest.py says why).
pytestmark = pytest.mark.usefixtures("one_thread")


def small_generator(seed=0, ngf=8, norm_layer=PerImageBatchNorm2d):
    torch.manual_seed(seed)
    return init_weights(UNetGenerator(ngf=ngf, norm_layer=norm_layer))


def labels(batch=2, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, 256, 256, generator=generator) * 2 - 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("prepack", [False, True])
def test_fast_generator_matches_the_exact_network(dtype, prepack):
    if prepack and not can_pack(dtype):
        pytest.skip(f"this PyTorch's oneDNN cannot pack {dtype} weights on this CPU")
    net_G = small_generator().eval()
    settings = speed.choose_inference("cpu", dtype=dtype, prepack=prepack)
    assert settings.dtype == dtype and settings.prepack == prepack
    assert settings.channels_last and settings.group_norm
    fast_G = speed.FastGenerator(net_G, settings)
    x = labels()
    with torch.inference_mode():
        expected = net_G(x)
        got = fast_G(x)
    assert got.dtype == torch.float32 and got.is_contiguous()
    assert got.shape == expected.shape == (2, 3, 256, 256)
    assert (got - expected).abs().max().item() < TOLERANCE[dtype]
    assert any(isinstance(m, PackedConv) for m in fast_G.modules()) == prepack
    # The exact network is a different object, untouched: fp32, its own modules.
    assert {p.dtype for p in net_G.parameters()} == {torch.float32}
    assert not any(isinstance(m, (GroupNormPerImage, PackedConv)) for m in net_G.modules())


def test_group_norm_is_each_images_own_statistics():
    """The CPU fast path swaps instance_norm for group_norm (one group per channel): same numbers,
    also in channels_last, and the checkpoint keys stay as they were."""
    net_G = small_generator()
    keys = list(net_G.state_dict())
    fast_G = use_group_norm(copy.deepcopy(net_G)).to(memory_format=torch.channels_last)
    assert sum(isinstance(m, GroupNormPerImage) for m in fast_G.modules()) == 13  # 6 down, 7 up
    assert list(fast_G.state_dict()) == keys
    x = labels()
    with torch.inference_mode():
        alone = torch.cat([net_G.eval()(x[i : i + 1]) for i in range(2)])  # batch 1: instance norm
        batched = fast_G.eval()(x.contiguous(memory_format=torch.channels_last))
    assert (alone - batched).abs().max().item() < 1e-4


def test_translate_treats_a_fast_generator_like_the_exact_one():
    net_G = small_generator().eval()
    fast_G = speed.FastGenerator(net_G, speed.choose_inference("cpu", dtype=torch.float32))
    x = labels(batch=3)
    plain = translate(net_G, x, batch_size=2)
    got = translate(fast_G, x, batch_size=2)
    assert got.dtype == torch.float32 and got.is_contiguous() and got.device.type == "cpu"
    assert (plain - got).abs().max().item() < 1e-4


def test_fast_generator_prints_what_it_switched_on(capsys):
    fast_G = speed.fast_generator(small_generator().eval(), "cpu", dtype=torch.float32)
    printed = capsys.readouterr().out
    assert "fast inference on cpu: weights fp32, channels_last on" in printed
    assert isinstance(fast_G, speed.FastGenerator)


def test_create_facades_generator_is_the_exact_network_and_nothing_else(tmp_path):
    """No fast option, no attribute bolted on, no process-wide setting changed by loading it."""
    path = tmp_path / "facades_generator.pth"
    torch.save(random_official_state_dict(), path)  # random weights: a plumbing test
    cudnn_before = torch.backends.cudnn.benchmark
    net_G = create_facades_generator(path)
    assert type(net_G) is UNetGenerator and {p.dtype for p in net_G.parameters()} == {torch.float32}
    assert not hasattr(net_G, "fast_path") and torch.backends.cudnn.benchmark == cudnn_before
    exact = {"UNetGenerator", "Sequential", "Conv2d", "ConvTranspose2d", "PerImageBatchNorm2d"}
    exact |= {"LeakyReLU", "ReLU", "Dropout", "Tanh"}
    assert {type(m).__name__ for m in net_G.modules()} <= exact


@pytest.mark.skipif(not can_pack(torch.float32), reason="this PyTorch has no oneDNN weight packing")
@pytest.mark.parametrize("channels_last", [False, True])
def test_packed_convolutions_equal_the_modules_they_replace(channels_last):
    torch.manual_seed(0)
    down = torch.nn.Conv2d(3, 16, 4, stride=2, padding=1, bias=False)
    final = torch.nn.ConvTranspose2d(16, 3, 4, stride=2, padding=1)  # with a bias, like G's final
    net = torch.nn.Sequential(down, final)
    x = labels(batch=3)[:, :, :64, :64]
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        expected = net(x)
        keys = list(net.state_dict())
        pack_convolutions(net)
        assert all(isinstance(m, PackedConv) for m in net) and list(net.state_dict()) == keys
        for batch in (1, 3, 2, 3):  # a packed copy per input shape, at most MAX_SHAPES kept
            assert (net(x[:batch]) - expected[:batch]).abs().max().item() < 1e-5
        assert len(net[0]._packed) == PackedConv.MAX_SHAPES
        net.load_state_dict(
            {k: v * 2 if k == "0.weight" else v for k, v in net.state_dict().items()}
        )
        assert not net[0]._packed  # new weights: the packed copies are gone, the next call repacks
        doubled = 2 * F.conv2d(x, net[0].weight / 2, stride=2, padding=1)
        assert (net[0](x) - doubled).abs().max() < 1e-4


@pytest.mark.parametrize("native", [False, True])
def test_cpu_uses_bf16_only_where_it_is_native(monkeypatch, native):
    monkeypatch.setattr(precision, "native_cpu_bf16", lambda: native)
    want = torch.bfloat16 if native else torch.float32
    assert speed.training_dtype("cpu") == speed.inference_dtype("cpu") == want
    assert speed.choose_inference("cpu").dtype == want
    assert speed.channels_last_pays("cpu", want) is native  # on a CPU, NHWC pays in bf16 only


def test_native_bf16_is_read_from_the_cpu_flags_and_oneDNNs_cap(monkeypatch):
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2", "fma", "avx512f"})
    assert not precision.native_cpu_bf16()  # AVX-512 alone: oneDNN emulates bf16
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx512f", "avx512_bf16", "amx_bf16"})
    assert precision.native_cpu_bf16()
    # The cap makes an AMX CPU compute bf16 by emulation.
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert not precision.native_cpu_bf16()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_AMX")
    assert precision.native_cpu_bf16()
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    assert not precision.native_cpu_bf16()  # this PyTorch's oneDNN cannot use it


@pytest.mark.parametrize("capability, dtype", [((7, 5), torch.float16), ((9, 0), torch.bfloat16)])
def test_cuda_precision_follows_the_gpu_generation(monkeypatch, capability, dtype):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda index=None: capability)
    assert speed.training_dtype("cuda:0") == speed.inference_dtype("cuda:0") == dtype
    assert speed.channels_last_pays("cuda:0", dtype)


def test_mps_uses_fp16_inference_and_fp32_training():
    assert speed.inference_dtype("mps") == torch.float16
    assert speed.training_dtype("mps") == torch.float32
    settings = speed.choose_inference("mps")
    assert not settings.channels_last and not settings.group_norm and not settings.prepack


def test_fp32_training_is_the_official_way():
    step = StepSpeed.choose(torch.device("cpu"), fp32=True)
    assert step.dtype == torch.float32 and step.memory_format == torch.contiguous_format
    assert step.adam_options == {} and not step.scaler.is_enabled()
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with step.autocast(torch.device("cpu")):
        assert (a @ b).dtype == torch.float32


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_step_speed_uses_the_devices_precision(monkeypatch, dtype):
    monkeypatch.setattr(recipe, "training_dtype", lambda device: dtype)  # whatever this CPU has
    step = StepSpeed.choose(torch.device("cpu"), fp32=False)
    assert step.dtype == dtype and step.adam_options == {"fused": True}
    assert not step.scaler.is_enabled()  # bf16 needs no loss scaling
    nhwc = dtype == torch.bfloat16
    assert step.memory_format == (torch.channels_last if nhwc else torch.contiguous_format)
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with step.autocast(torch.device("cpu")):
        assert (a @ b).dtype == dtype
    assert (a @ b).dtype == torch.float32


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fast_training_steps_follow_the_fp32_steps(monkeypatch, dtype):
    """Exercise 3's own train_step, fast (forced precision, channels_last where it pays, fused
    Adam) vs --fp32: after three steps G's L1 loss agrees, within rounding (fp32) or bf16's
    precision."""
    monkeypatch.setattr(recipe, "training_dtype", lambda device: dtype)
    losses = {}
    for fp32 in (True, False):
        step = StepSpeed.choose(torch.device("cpu"), fp32)
        layout = step.memory_format
        torch.manual_seed(0)
        net_G = init_weights(UNetGenerator(ngf=8)).to(memory_format=layout).train()
        net_D = init_weights(PatchGANDiscriminator(ndf=8)).to(memory_format=layout).train()
        adam = dict(lr=LR, betas=(BETA1, 0.999), **step.adam_options)
        opt_G = torch.optim.Adam(net_G.parameters(), **adam)
        opt_D = torch.optim.Adam(net_D.parameters(), **adam)
        real_A = labels(seed=2).to(memory_format=layout)
        real_B = labels(seed=3).to(memory_format=layout)
        torch.manual_seed(1)  # the same dropout masks in both runs
        losses[fp32] = []
        for _ in range(3):
            losses[fp32].append(train_step(net_G, net_D, opt_G, opt_D, real_A, real_B, 100, step))
    tolerance = 1e-4 if dtype == torch.float32 else 0.05
    for plain, fast in zip(losses[True], losses[False], strict=True):
        assert fast["G_L1"] == pytest.approx(plain["G_L1"], rel=tolerance)


ALLOCATOR_PROBE = textwrap.dedent("""
    import resource, sys, torch
    sys.path.insert(0, {root!r})
    from speed import precision
    from pix2pix_models import UNetGenerator

    def faults_per_pass(passes):
        counts = []
        for _ in range(passes):
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            # 64 MiB, freed at once: above any mmap threshold glibc picks by itself
            torch.empty(16 << 20).fill_(1.0)
            counts.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
        return counts

    torch.manual_seed(0)
    net_G, x = UNetGenerator(ngf=4).eval(), torch.randn(1, 3, 256, 256)
    with torch.inference_mode():
        before = net_G(x)
    plain = faults_per_pass(3)
    tuned = (precision.tune_allocator(), precision.tune_allocator())
    print(*tuned, min(plain), min(faults_per_pass(10)))
    with torch.inference_mode():
        print(torch.equal(before, net_G(x)))
""")


@pytest.mark.skipif(precision._glibc() is None, reason="allocator tuning is for glibc on Linux")
def test_allocator_tuning_is_idempotent_harmless_and_reuses_memory():
    # A fresh interpreter: the tuning is process-wide and cannot be undone, so not in this one.
    command = [sys.executable, "-c", ALLOCATOR_PROBE.format(root=str(ROOT))]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    first, second, plain, tuned, same_output = result.stdout.split()[-5:]
    assert first == second == "True" and same_output == "True"
    assert int(plain) >= 16_000  # by default every pass maps 64 MiB afresh: 16k pages fault
    assert int(tuned) == 0  # tuned, the freed block is reused from the heap (within a few passes)


@pytest.mark.slow
@pytest.mark.skipif(
    not SLOW,
    reason="torch.compile takes a minute or more per network on 2 CPU cores; "
    "run with PIX2PIX_SLOW_TESTS=1",
)
@pytest.mark.parametrize("norm_layer", [PerImageBatchNorm2d, torch.nn.BatchNorm2d])  # frozen or not
def test_compiled_generator_equals_eager(norm_layer):
    """compile_for_inference freezes only networks with per-image statistics: freezing has folded
    running-statistics BatchNorm wrongly into up1's ConvTranspose2d (docs/speed.rst). Both must
    equal eager fp32."""
    net_G = small_generator(norm_layer=norm_layer).eval()
    for m in net_G.modules():  # statistics far from (0, 1), so that a wrong fold would show
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    settings = speed.choose_inference("cpu", dtype=torch.float32, compile=True)
    if not settings.compile:
        pytest.skip("torch.compile needs a C++ compiler")
    compiled = speed.FastGenerator(net_G, settings)
    x = labels(batch=1)
    with torch.inference_mode():
        assert (compiled(x) - net_G(x)).abs().max().item() < 1e-4
