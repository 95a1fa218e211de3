"""Facts about the networks: counts, shapes, receptive field, init, and equality with the official
layout."""

import io

import pytest
import torch
import torch.nn as nn

import facades_generator
from helpers.lesson import LessonError
from pix2pix_models import (
    PatchGANDiscriminator,
    PerImageBatchNorm2d,
    UNetGenerator,
    count_parameters,
    init_weights,
    load_official_generator_weights,
    official_generator_key_map,
)
from tests.official_reference import NestedUnet256, random_official_state_dict


def test_parameter_counts_match_the_official_networks():
    assert count_parameters(UNetGenerator()) == 54_413_955
    assert count_parameters(PatchGANDiscriminator()) == 2_768_705


def test_generator_shapes_and_tanh_range():
    net_G = UNetGenerator(ngf=8)
    out = net_G(torch.randn(2, 3, 256, 256) * 10)
    assert out.shape == (2, 3, 256, 256)
    assert out.min() >= -1 and out.max() <= 1


def test_generator_bias_only_on_the_last_layer():
    convs = [
        m for m in UNetGenerator(ngf=8).modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))
    ]
    assert len(convs) == 16
    assert [m.bias is not None for m in convs] == [False] * 15 + [True]


def test_dropout_sits_in_the_three_decoder_blocks_after_the_innermost():
    net_G = UNetGenerator(ngf=8)
    with_dropout = [
        name
        for name, m in net_G.named_children()
        if any(isinstance(x, nn.Dropout) for x in m.modules())
    ]
    assert with_dropout == ["up2", "up3", "up4"]
    assert all(m.p == 0.5 for m in net_G.modules() if isinstance(m, nn.Dropout))


def test_encoder_features_reach_1x1_and_skips_concatenate_encoder_first():
    net_G = UNetGenerator(ngf=8).eval()
    shapes = {}

    def remember(name):
        def hook(module, inputs, output):
            shapes[name] = (inputs[0], output)  # returns None, so the forward pass is unchanged

        return hook

    for name in ["down1", "down7", "down8", "up1", "up2", "final"]:
        getattr(net_G, name).register_forward_hook(remember(name))
    net_G(torch.randn(1, 3, 256, 256))
    assert shapes["down1"][1].shape == (1, 8, 128, 128)
    assert shapes["down8"][1].shape == (1, 64, 1, 1)
    assert shapes["up1"][1].shape == (1, 64, 2, 2)
    # up2's input is cat([d7, u1]): its first half is exactly the encoder's output d7.
    assert torch.equal(shapes["up2"][0][:, :64], shapes["down7"][1])
    assert torch.equal(shapes["up2"][0][:, 64:], shapes["up1"][1])
    assert torch.equal(shapes["final"][0][:, :8], shapes["down1"][1])


def test_discriminator_output_is_30x30_logits():
    net_D = PatchGANDiscriminator(ndf=8)
    out = net_D(torch.randn(2, 3, 256, 256), torch.randn(2, 3, 256, 256))
    assert out.shape == (2, 1, 30, 30)
    assert net_D.model[0].in_channels == 6  # condition and image, concatenated


def _receptive_field(net_D, row, col):
    """Bounding box of the input pixels whose gradient reaches logit (row, col)."""
    image = torch.randn(1, 3, 256, 256, requires_grad=True)
    net_D(torch.zeros(1, 3, 256, 256), image)[0, 0, row, col].backward()
    rows, cols = torch.nonzero(image.grad[0].abs().sum(0), as_tuple=True)
    return rows.max().item() - rows.min().item() + 1, cols.max().item() - cols.min().item() + 1


def test_each_patchgan_logit_sees_a_70x70_patch():
    torch.manual_seed(0)
    # eval: batch statistics would couple all pixels
    net_D = init_weights(PatchGANDiscriminator(ndf=8)).eval()
    assert _receptive_field(net_D, 15, 15) == (70, 70)
    # Padding adds up to 1 + 2 + 4 + 8 + 8 = 23 input pixels outside the image for the corner logit.
    assert _receptive_field(net_D, 0, 0) == (70 - 23, 70 - 23)


def test_init_weights_follows_the_official_normal_init():
    torch.manual_seed(0)
    net_G = init_weights(UNetGenerator())
    conv = torch.cat([m.weight.flatten() for m in net_G.modules() if isinstance(m, nn.Conv2d)])
    bn = torch.cat([m.weight for m in net_G.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(conv.mean().item()) < 1e-3 and abs(conv.std().item() - 0.02) < 1e-3
    assert abs(bn.mean().item() - 1.0) < 5e-3 and abs(bn.std().item() - 0.02) < 5e-3
    assert net_G.final[1].bias.abs().sum() == 0


# ----------------------------------------------------------------- the official checkpoint layout


def test_key_map_covers_the_official_checkpoint_exactly():
    official = random_official_state_dict(ngf=8)
    assert len(official) == 82
    assert len(random_official_state_dict(ngf=8, with_num_batches_tracked=False)) == 69
    modules = {k.rpartition(".")[0] for k in official}
    assert modules == set(official_generator_key_map())


@pytest.mark.parametrize("batch", [1, 3])
def test_flat_generator_equals_the_nested_official_one(batch):
    state = random_official_state_dict(ngf=8, seed=1)
    reference = NestedUnet256(ngf=8)
    reference.load_state_dict(state)
    net_G = load_official_generator_weights(UNetGenerator(ngf=8), state)
    x = torch.randn(batch, 3, 256, 256)
    for mode in ("train", "eval"):
        reference.train(mode == "train")
        net_G.train(mode == "train")
        torch.manual_seed(5)
        # clone: the reference's in-place LeakyReLU rewrites its input
        expected = reference(x.clone())
        torch.manual_seed(5)
        assert torch.allclose(net_G(x), expected, atol=1e-6), mode


def test_mapping_accepts_module_prefix_and_missing_num_batches_tracked():
    state = random_official_state_dict(ngf=8, with_num_batches_tracked=False)
    prefixed = {"module." + k: v for k, v in state.items()}
    net_G = load_official_generator_weights(UNetGenerator(ngf=8), prefixed)
    assert torch.equal(net_G.down2[1].running_var, state["model.model.1.model.2.running_var"])
    assert torch.equal(net_G.final[1].bias, state["model.model.3.bias"])


def test_mapping_names_the_first_missing_or_unexpected_key():
    state = random_official_state_dict(ngf=8)
    missing = dict(state)
    del missing["model.model.1.model.5.weight"]
    with pytest.raises(ValueError, match=r"missing key 'model\.model\.1\.model\.5\.weight'"):
        load_official_generator_weights(UNetGenerator(ngf=8), missing)
    extra = dict(state, **{"model.model.9.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match=r"unexpected key 'model\.model\.9\.weight'"):
        load_official_generator_weights(UNetGenerator(ngf=8), extra)
    with pytest.raises(ValueError, match="shape mismatch"):
        load_official_generator_weights(UNetGenerator(ngf=16), state)


# ----------------------------------------------------------------- the three test-time protocols


@pytest.fixture(scope="module")
def official_checkpoints(tmp_path_factory):
    """The same random official-layout weights saved in the zip and the legacy (pre-1.6) formats."""
    folder = tmp_path_factory.mktemp("official")
    state = random_official_state_dict(ngf=64, seed=2)
    torch.save(state, folder / "zip.pth")
    torch.save(state, folder / "legacy.pth", _use_new_zipfile_serialization=False)
    return folder, state


def _fresh_reference(state):
    # A fresh reference each time: a train-mode pass updates BatchNorm's running averages.
    reference = NestedUnet256(ngf=64)
    reference.load_state_dict(state)
    return reference


def _reference_output(reference, x, train_bn, dropout):
    reference.train(train_bn)
    for m in reference.modules():
        if isinstance(m, nn.Dropout):
            m.train(dropout)
    with torch.no_grad():
        return reference(x.clone())


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
@pytest.mark.parametrize("batch", [1, 3])
def test_default_protocol_equals_each_image_alone_in_train_mode(official_checkpoints, fmt, batch):
    folder, state = official_checkpoints
    net_G = facades_generator.create_facades_generator(folder / f"{fmt}.pth")
    assert not net_G.training and isinstance(net_G.down2[1], PerImageBatchNorm2d)
    x = torch.randn(batch, 3, 256, 256)
    running_before = net_G.down2[1].running_mean.clone()
    with torch.no_grad():
        out = net_G(x)
    reference = _fresh_reference(state)
    expected = torch.cat(
        [
            _reference_output(reference, x[i : i + 1], train_bn=True, dropout=False)
            for i in range(batch)
        ]
    )
    assert torch.allclose(out, expected, atol=1e-5)
    # never updates the stored averages
    assert torch.equal(net_G.down2[1].running_mean, running_before)
    with torch.no_grad():
        assert torch.equal(net_G(x), out)  # deterministic


@pytest.mark.parametrize("batch", [1, 3])
def test_running_protocol_equals_official_eval(official_checkpoints, batch):
    folder, state = official_checkpoints
    net_G = facades_generator.create_facades_generator(folder / "zip.pth", stats="running")
    x = torch.randn(batch, 3, 256, 256)
    with torch.no_grad():
        out = net_G(x)
    expected = _reference_output(_fresh_reference(state), x, train_bn=False, dropout=False)
    assert torch.allclose(out, expected, atol=1e-5)
    image_stats = facades_generator.create_facades_generator(folder / "zip.pth")
    with torch.no_grad():
        assert (image_stats(x) - out).abs().mean() > 1e-3  # the two protocols really differ


def test_dropout_protocol_reproduces_the_official_train_mode_output(official_checkpoints):
    folder, state = official_checkpoints
    net_G = facades_generator.create_facades_generator(folder / "legacy.pth", dropout=True)
    x = torch.randn(1, 3, 256, 256)
    reference = _fresh_reference(state)  # built before seeding: its init draws random numbers too
    torch.manual_seed(11)
    expected = _reference_output(reference, x, train_bn=True, dropout=True)
    torch.manual_seed(11)
    with torch.no_grad():
        first = net_G(x)
        second = net_G(x)
    assert torch.allclose(first, expected, atol=1e-5)  # same masks: dropout is in the same places
    assert not torch.equal(first, second)  # and it really is stochastic


def test_state_dict_round_trip_in_both_formats(tmp_path, official_checkpoints):
    folder, _ = official_checkpoints
    net_G = facades_generator.create_facades_generator(folder / "zip.pth", stats="running")
    for legacy in (False, True):
        buffer = io.BytesIO()
        torch.save(net_G.state_dict(), buffer, _use_new_zipfile_serialization=not legacy)
        buffer.seek(0)
        restored = UNetGenerator()
        restored.load_state_dict(torch.load(buffer, weights_only=True), strict=True)
        pairs = zip(restored.state_dict().values(), net_G.state_dict().values(), strict=True)
        assert all(torch.equal(a, b) for a, b in pairs)


def test_loader_refuses_missing_and_foreign_files(tmp_path):
    with pytest.raises(LessonError, match="download_pretrained.py"):
        facades_generator.create_facades_generator(tmp_path / "nope.pth")
    html = tmp_path / "page.pth"
    html.write_text("<html><body>Not found</body></html>")
    with pytest.raises(LessonError, match="is not a PyTorch weights file"):
        facades_generator.create_facades_generator(html)
    # what Exercise 3 writes: Exercise 1 runs it (--checkpoint), not this loader
    theirs = tmp_path / "generator_weights.pth"
    torch.save(
        dict(
            format_version=1,
            model_args=dict(in_channels=3, out_channels=3, ngf=8),
            image_size=256,
            epoch=1,
            state_dict=UNetGenerator(ngf=8).state_dict(),
        ),
        theirs,
    )
    with pytest.raises(
        LessonError,
        match=r"written by exercise3_train.py, not by the authors: run it with `python "
        r"exercise1_observe.py --checkpoint .*` \(a facades model\) or colorize_sketch.py",
    ):
        facades_generator.create_facades_generator(theirs)
    small = tmp_path / "small.pth"
    torch.save(random_official_state_dict(ngf=8), small)
    with pytest.raises(LessonError, match="shape mismatch"):
        facades_generator.create_facades_generator(small)
