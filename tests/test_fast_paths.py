"""The fast paths: what they choose per device, that every one can be switched off, and that they
compute the same generator as the plain fp32 path (small ngf; the full size is the benchmark's job)."""

import argparse
import contextlib
import copy
import os
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F

import fast_modules
import fast_paths
from fast_modules import GroupNormPerImage, PackedConv, pack_convolutions, use_group_norm
from facades_generator import create_facades_generator, translate
from pix2pix_models import PerImageBatchNorm2d, UNetGenerator, init_weights
from tests.official_reference import random_official_state_dict

SLOW = os.environ.get("PIX2PIX_SLOW_TESTS") == "1"


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These small networks run hundreds of tiny ops; on a busy 2-core machine every OpenMP barrier of a
    2-thread run waits for a descheduled thread (measured: 4 s instead of 0.1 s per step). One thread is enough."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def small_generator(seed=0, ngf=8, norm_layer=PerImageBatchNorm2d):
    torch.manual_seed(seed)
    return init_weights(UNetGenerator(ngf=ngf, norm_layer=norm_layer))


def labels(batch=2, seed=1):
    return torch.rand(batch, 3, 256, 256, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def tolerance(dtype):
    return 1e-4 if dtype == torch.float32 else 0.05  # bf16 keeps 8 bits of mantissa: ~1e-2 on [-1, 1]


def test_fast_generator_matches_plain_fp32():
    net_G = small_generator().eval()
    fast = fast_paths.choose_fast_path("cpu")
    fast_G = fast_paths.prepare_generator_for_inference(copy.deepcopy(net_G), fast)
    x = labels()
    with torch.inference_mode():
        expected = net_G(x)
        got = fast_G(fast_paths.prepare_input(x, fast)).float()
    assert got.shape == expected.shape == (2, 3, 256, 256)
    assert (got - expected).abs().max().item() < tolerance(fast.inference_dtype)


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
        alone = torch.cat([net_G.eval()(x[i:i + 1]) for i in range(2)])  # batch 1: instance norm
        batched = fast_G.eval()(x.contiguous(memory_format=torch.channels_last))
    assert (alone - batched).abs().max().item() < 1e-4


def test_translate_follows_the_weights_and_returns_contiguous_float32():
    net_G = small_generator().eval()
    fast = fast_paths.choose_fast_path("cpu", precision="fp32")
    fast_G = fast_paths.prepare_generator_for_inference(copy.deepcopy(net_G), fast)
    x = labels(batch=3)
    plain, got = translate(net_G, x, batch_size=2), translate(fast_G, x, batch_size=2)
    assert got.dtype == torch.float32 and got.is_contiguous() and got.device.type == "cpu"
    assert (plain - got).abs().max().item() < 1e-4
    bf16_G = copy.deepcopy(net_G).to(torch.bfloat16)  # bf16 weights: translate casts the input to match
    assert translate(bf16_G, x[:1]).dtype == torch.float32


def test_create_facades_generator_fast_option(tmp_path):
    """fast=False stays the exact fp32 official network; fast=True is the same network, fast-path prepared."""
    path = tmp_path / "facades_generator.pth"
    torch.save(random_official_state_dict(), path)  # random weights in the official layout: a plumbing test
    exact = create_facades_generator(path)
    fast = create_facades_generator(path, fast=True)
    assert next(exact.parameters()).dtype == torch.float32
    assert not any(isinstance(m, GroupNormPerImage) for m in exact.modules())
    chosen = fast_paths.choose_fast_path("cpu")
    assert fast.fast_path.inference_dtype == chosen.inference_dtype
    assert fast.fast_path.channels_last == chosen.channels_last
    assert any(isinstance(m, PackedConv) for m in fast.modules()) == chosen.prepack
    x = labels(batch=1)
    assert (translate(exact, x) - translate(fast, x)).abs().max().item() < tolerance(chosen.inference_dtype)


@pytest.mark.skipif(not fast_modules.can_pack(torch.float32), reason="this PyTorch has no oneDNN weight packing")
@pytest.mark.parametrize("channels_last", [False, True])
def test_packed_convolutions_equal_the_modules_they_replace(channels_last):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 4, stride=2, padding=1, bias=False),
                              torch.nn.ConvTranspose2d(16, 3, 4, stride=2, padding=1))  # the final layer has a bias
    x = labels(batch=3)[:, :, :64, :64]
    if channels_last:
        net, x = net.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        expected = net(x)
        keys = list(net.state_dict())
        pack_convolutions(net)
        assert all(isinstance(m, PackedConv) for m in net) and list(net.state_dict()) == keys
        for batch in (1, 3, 2, 3):  # a packed copy per input shape, at most MAX_SHAPES kept
            assert (net(x[:batch]) - expected[:batch]).abs().max().item() < 1e-5
        assert len(net[0]._packed) == PackedConv.MAX_SHAPES
        net.load_state_dict({k: v * 2 if k == "0.weight" else v for k, v in net.state_dict().items()})
        assert not net[0]._packed  # new weights: the packed copies are gone, the next call repacks
        assert (net[0](x) - 2 * torch.nn.functional.conv2d(x, net[0].weight / 2, stride=2, padding=1)).abs().max() < 1e-4


def test_no_prepack_leaves_the_convolutions_alone():
    fast = fast_paths.fast_path_from_args(parse(["--no-prepack"]), "cpu")
    net_G = fast_paths.prepare_generator_for_inference(small_generator(), fast)
    assert not fast.prepack and not any(isinstance(m, PackedConv) for m in net_G.modules())


@pytest.mark.parametrize("native", [False, True])
def test_cpu_uses_bf16_only_where_it_is_native(monkeypatch, native):
    monkeypatch.setattr(fast_paths, "native_cpu_bf16", lambda: native)
    fast = fast_paths.choose_fast_path("cpu")
    want = torch.bfloat16 if native else torch.float32
    assert fast.inference_dtype == fast.train_dtype == want
    assert not fast.grad_scaler  # bf16 has fp32's exponent range: no loss scaling
    assert ("no native bf16" in fast.describe()) is not native


def test_native_bf16_is_read_from_the_cpu_flags(monkeypatch):
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    monkeypatch.setattr(fast_paths, "cpu_flags", lambda: {"avx2", "fma", "avx512f"})
    assert not fast_paths.native_cpu_bf16()  # AVX-512 alone: oneDNN emulates bf16
    monkeypatch.setattr(fast_paths, "cpu_flags", lambda: {"avx512f", "avx512_bf16"})
    assert fast_paths.native_cpu_bf16()
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    assert not fast_paths.native_cpu_bf16()  # this PyTorch's oneDNN cannot use it


@pytest.mark.parametrize("capability, dtype, scaler", [((7, 5), torch.float16, True), ((9, 0), torch.bfloat16, False)])
def test_cuda_precision_follows_the_gpu_generation(monkeypatch, capability, dtype, scaler):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda index=None: capability)
    fast = fast_paths.choose_fast_path("cuda:0")
    assert fast.inference_dtype == fast.train_dtype == dtype and fast.grad_scaler is scaler
    assert fast.cudnn_benchmark and fast.tf32 and fast.fused_adam and not fast.tune_allocator


def test_mps_uses_fp16_inference_and_fp32_training():
    fast = fast_paths.choose_fast_path("mps")
    assert fast.inference_dtype == torch.float16 and fast.train_dtype == torch.float32
    assert not fast.tune_allocator and not fast.group_norm and not fast.fused_adam


def parse(argv):
    return fast_paths.add_fast_path_arguments(argparse.ArgumentParser()).parse_args(argv)


def test_every_fast_path_has_a_flag_that_switches_it_off():
    on = fast_paths.fast_path_from_args(parse([]), "cpu")
    assert on.channels_last and not on.compile
    assert on.tune_allocator == (fast_paths._glibc() is not None)
    off = fast_paths.fast_path_from_args(parse(["--no-channels-last", "--no-allocator-tuning", "--precision", "fp32"]),
                                         "cpu")
    assert not off.channels_last and not off.tune_allocator and off.inference_dtype == torch.float32
    assert "channels_last  inference off, training off" in off.describe()
    assert "allocator      default" in off.describe()
    plain = fast_paths.fast_path_from_args(parse(["--plain", "--compile"]), "cpu")
    assert plain == fast_paths.FastPath(device=torch.device("cpu"), notes=plain.notes)  # every field at its default
    assert "plain path" in plain.describe()
    compiled = fast_paths.fast_path_from_args(parse(["--compile"]), "cpu")
    assert compiled.compile or "no C++ compiler" in compiled.describe()

def test_plain_path_changes_nothing():
    plain = fast_paths.choose_fast_path("cpu", enabled=False)
    net_G = small_generator()
    prepared = fast_paths.prepare_generator_for_inference(net_G, plain)
    assert prepared is net_G and not any(isinstance(m, GroupNormPerImage) for m in net_G.modules())
    assert next(net_G.parameters()).is_contiguous() and plain.adam_options == {}
    assert isinstance(fast_paths.train_autocast(plain), contextlib.nullcontext)
    assert not fast_paths.make_grad_scaler(plain).is_enabled()


def test_train_autocast_uses_the_chosen_dtype():
    fast = fast_paths.choose_fast_path("cpu", precision="bf16")
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with fast_paths.train_autocast(fast):
        assert (a @ b).dtype == torch.bfloat16
    assert (a @ b).dtype == torch.float32


def test_fast_training_step_matches_plain():
    """channels_last + fused Adam: the same update as the plain NCHW single-tensor Adam, within fp32 rounding."""
    fast = fast_paths.choose_fast_path("cpu", precision="fp32")
    weights = {}
    for name, path in (("plain", fast_paths.choose_fast_path("cpu", enabled=False)), ("fast", fast)):
        net_G = fast_paths.prepare_for_training(small_generator(norm_layer=torch.nn.BatchNorm2d), path)
        opt = torch.optim.Adam(net_G.parameters(), lr=2e-4, betas=(0.5, 0.999), **path.adam_options)
        real_A, real_B = (fast_paths.prepare_input(x, path, training=True) for x in (labels(seed=2), labels(seed=3)))
        for _ in range(2):
            opt.zero_grad(set_to_none=True)
            F.l1_loss(net_G(real_A), real_B).backward()
            opt.step()
        weights[name] = [p.detach().clone() for p in net_G.parameters()]
    assert max((p - f).abs().max().item() for p, f in zip(weights["plain"], weights["fast"])) < 1e-5


ALLOCATOR_PROBE = textwrap.dedent("""
    import resource, sys, torch
    sys.path.insert(0, {root!r})
    import fast_paths
    from pix2pix_models import UNetGenerator

    def faults_per_pass(passes):
        counts = []
        for _ in range(passes):
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            torch.empty(16 << 20).fill_(1.0)  # 64 MiB, freed at once: above any mmap threshold glibc picks itself
            counts.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
        return counts

    torch.manual_seed(0)
    net_G, x = UNetGenerator(ngf=4).eval(), torch.randn(1, 3, 256, 256)
    with torch.inference_mode():
        before = net_G(x)
    plain = faults_per_pass(3)
    print(fast_paths.tune_allocator(), fast_paths.tune_allocator(), min(plain), min(faults_per_pass(10)))
    with torch.inference_mode():
        print(torch.equal(before, net_G(x)))
""")


@pytest.mark.skipif(fast_paths._glibc() is None, reason="allocator tuning is for glibc on Linux")
def test_allocator_tuning_is_idempotent_harmless_and_reuses_memory():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    # A fresh interpreter: the tuning is process-wide and cannot be undone, so keep it out of this one.
    out = subprocess.run([sys.executable, "-c", ALLOCATOR_PROBE.format(root=root)], capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    first, second, plain, tuned, same_output = out[-5:]
    assert first == second == "True" and same_output == "True"
    assert int(plain) >= 16_000  # by default every pass maps 64 MiB afresh: 16k pages fault on first touch
    assert int(tuned) == 0  # tuned, the freed block is reused from the heap (within a few passes)


@pytest.mark.skipif(not SLOW, reason="torch.compile takes a minute or more per network on 2 CPU cores; "
                                     "run with PIX2PIX_SLOW_TESTS=1")
@pytest.mark.parametrize("norm_layer", [PerImageBatchNorm2d, torch.nn.BatchNorm2d])  # frozen / not frozen
def test_compiled_generator_equals_eager(norm_layer):
    """maybe_compile freezes only networks with per-image statistics (DESIGN.md's trap: freezing folded
    running-statistics BatchNorm wrongly into up1's ConvTranspose2d on a Zen 4). Both must equal eager fp32."""
    net_G = small_generator(norm_layer=norm_layer).eval()
    for m in net_G.modules():  # statistics far from (0, 1), so that a wrong fold would show
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5), m.running_var.uniform_(0.5, 2.0), m.weight.data.uniform_(0.5, 1.5)
    fast = fast_paths.choose_fast_path("cpu", precision="fp32", compile=True)
    if not fast.compile:
        pytest.skip("torch.compile needs a C++ compiler")
    compiled = fast_paths.prepare_generator_for_inference(copy.deepcopy(net_G), fast)
    x = labels(batch=1)
    with torch.inference_mode():
        assert (compiled(fast_paths.prepare_input(x, fast)) - net_G(x)).abs().max().item() < 1e-4
