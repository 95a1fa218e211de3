"""Facts about the networks (counts, shapes, receptive field, init), their equality with the
official nested layout, and the generator files open_generator reads under each test-time protocol.
"""

import pytest
import torch
import torch.nn as nn

import facades_generator
from facades_generator import create_facades_generator, open_generator
from helpers.lesson import LessonError
from pix2pix_models import PatchGANDiscriminator, PerImageBatchNorm2d, UNetGenerator
from pix2pix_models import count_parameters, generator_at_test_time, init_weights
from pix2pix_models import load_official_generator_weights, official_generator_key_map
from tests.exercise1_support import write_exercise3_weights
from tests.official_reference import NestedUnet256, random_official_state_dict


def test_parameter_counts_match_the_official_networks():
    assert count_parameters(UNetGenerator()) == 54_413_955
    assert count_parameters(PatchGANDiscriminator()) == 2_768_705


def test_generator_layers_bias_dropout_and_range():
    net_G = UNetGenerator(ngf=8)
    convs = [m for m in net_G.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert [m.bias is not None for m in convs] == [False] * 15 + [True]  # only the last has one
    dropout = [
        n for n, m in net_G.named_children() if any(isinstance(x, nn.Dropout) for x in m.modules())
    ]
    assert dropout == ["up2", "up3", "up4"]  # the three decoder blocks after the innermost
    assert all(m.p == 0.5 for m in net_G.modules() if isinstance(m, nn.Dropout))
    out = net_G(torch.randn(2, 3, 256, 256) * 10)
    assert out.shape == (2, 3, 256, 256) and out.min() >= -1 and out.max() <= 1


def test_encoder_reaches_1x1_and_skips_concatenate_encoder_first():
    net_G, seen = UNetGenerator(ngf=8).eval(), {}
    for name in ["down1", "down7", "down8", "up1", "up2", "final"]:
        getattr(net_G, name).register_forward_hook(
            lambda module, inputs, output, name=name: seen.__setitem__(name, (inputs[0], output))
        )
    net_G(torch.randn(1, 3, 256, 256))
    assert seen["down1"][1].shape == (1, 8, 128, 128) and seen["down8"][1].shape == (1, 64, 1, 1)
    assert torch.equal(seen["up2"][0], torch.cat([seen["down7"][1], seen["up1"][1]], dim=1))
    assert torch.equal(seen["final"][0][:, :8], seen["down1"][1])


def test_each_patchgan_logit_of_the_30x30_sees_a_70x70_patch():
    torch.manual_seed(0)
    net_D = init_weights(PatchGANDiscriminator(ndf=8)).eval()  # eval: batch stats couple pixels
    assert net_D.model[0].in_channels == 6  # condition and image, concatenated

    def receptive_field(row, col):  # the input pixels whose gradient reaches logit (row, col)
        image = torch.randn(1, 3, 256, 256, requires_grad=True)
        logits = net_D(torch.zeros(1, 3, 256, 256), image)
        assert logits.shape == (1, 1, 30, 30)
        logits[0, 0, row, col].backward()
        rows, cols = torch.nonzero(image.grad[0].abs().sum(0), as_tuple=True)
        return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)

    assert receptive_field(15, 15) == (70, 70)
    assert receptive_field(0, 0) == (70 - 23, 70 - 23)  # padding: 1 + 2 + 4 + 8 + 8 outside


def test_init_weights_follows_the_official_normal_init():
    torch.manual_seed(0)
    net_G = init_weights(UNetGenerator())
    conv = torch.cat([m.weight.flatten() for m in net_G.modules() if isinstance(m, nn.Conv2d)])
    bn = torch.cat([m.weight for m in net_G.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(conv.mean()) < 1e-3 and abs(conv.std() - 0.02) < 1e-3
    assert abs(bn.mean() - 1.0) < 5e-3 and abs(bn.std() - 0.02) < 5e-3
    assert net_G.final[1].bias.abs().sum() == 0


# ------------------------------------------------------------------ the official checkpoint layout


@pytest.mark.parametrize("batch", [1, 3])
def test_flat_generator_equals_the_nested_official_one(batch):
    state = random_official_state_dict(ngf=8, seed=1)
    reference = NestedUnet256(ngf=8)
    reference.load_state_dict(state)
    net_G = load_official_generator_weights(UNetGenerator(ngf=8), state)
    x = torch.randn(batch, 3, 256, 256)
    for train in (True, False):
        reference.train(train)
        net_G.train(train)
        torch.manual_seed(5)
        expected = reference(x.clone())  # clone: the reference's in-place LeakyReLU rewrites x
        torch.manual_seed(5)
        assert torch.allclose(net_G(x), expected, atol=1e-6), train


def test_mapping_covers_the_official_keys_with_or_without_prefix_and_num_batches_tracked():
    official = random_official_state_dict(ngf=8)
    assert len(official) == 82
    assert {k.rpartition(".")[0] for k in official} == set(official_generator_key_map())
    state = random_official_state_dict(ngf=8, with_num_batches_tracked=False)
    prefixed = {"module." + k: v for k, v in state.items()}  # as saved from DataParallel
    assert len(state) == 69
    net_G = load_official_generator_weights(UNetGenerator(ngf=8), prefixed)
    assert torch.equal(net_G.down2[1].running_var, state["model.model.1.model.2.running_var"])
    assert torch.equal(net_G.final[1].bias, state["model.model.3.bias"])


def test_mapping_names_the_first_missing_or_unexpected_key_and_a_wrong_shape():
    state = random_official_state_dict(ngf=8)
    missing = {k: v for k, v in state.items() if k != "model.model.1.model.5.weight"}
    with pytest.raises(ValueError, match=r"missing key 'model\.model\.1\.model\.5\.weight'"):
        load_official_generator_weights(UNetGenerator(ngf=8), missing)
    extra = dict(state, **{"model.model.9.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match=r"unexpected key 'model\.model\.9\.weight'"):
        load_official_generator_weights(UNetGenerator(ngf=8), extra)
    with pytest.raises(ValueError, match="shape mismatch"):
        load_official_generator_weights(UNetGenerator(ngf=16), state)


# ------------------------------------------------------ the test-time protocols of open_generator


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    """The same random official-layout weights in the zip and the legacy (pre-1.6) formats."""
    folder = tmp_path_factory.mktemp("official")
    state = random_official_state_dict(ngf=64, seed=2)
    torch.save(state, folder / "zip.pth")
    torch.save(state, folder / "legacy.pth", _use_new_zipfile_serialization=False)
    return folder, state


def reference_output(state, x, train_bn, dropout, seed=0):
    reference = NestedUnet256(ngf=64)  # fresh: a train-mode pass updates the running averages
    reference.load_state_dict(state)
    reference.train(train_bn)
    reference.apply(lambda m: m.train(dropout) if isinstance(m, nn.Dropout) else None)
    torch.manual_seed(seed)  # after building it: its init draws random numbers too
    with torch.no_grad():
        return reference(x.clone())


@pytest.mark.parametrize("fmt, batch", [("zip", 3), ("legacy", 1)])
def test_default_protocol_is_each_image_alone_in_train_mode(official, fmt, batch):
    folder, state = official
    net_G = create_facades_generator(folder / f"{fmt}.pth")
    assert not net_G.training and isinstance(net_G.down2[1], PerImageBatchNorm2d)
    x, running_before = torch.randn(batch, 3, 256, 256), net_G.down2[1].running_mean.clone()
    with torch.no_grad():
        out = net_G(x)
        assert torch.equal(net_G(x), out)  # deterministic
    alone = [reference_output(state, x[i : i + 1], True, False) for i in range(batch)]
    assert torch.allclose(out, torch.cat(alone), atol=1e-5)
    assert torch.equal(net_G.down2[1].running_mean, running_before)  # never updated


def test_running_protocol_is_the_official_eval_and_differs(official):
    folder, state = official
    x = torch.randn(3, 3, 256, 256)
    with torch.no_grad():
        out = create_facades_generator(folder / "zip.pth", stats="running")(x)
        per_image = create_facades_generator(folder / "zip.pth")(x)
    assert torch.allclose(out, reference_output(state, x, False, False), atol=1e-5)
    assert (per_image - out).abs().mean() > 1e-3


def test_dropout_protocol_reproduces_the_official_train_mode_output(official):
    folder, state = official
    net_G = create_facades_generator(folder / "legacy.pth", dropout=True)
    x = torch.randn(1, 3, 256, 256)
    expected = reference_output(state, x, True, True, seed=11)
    torch.manual_seed(11)
    with torch.no_grad():
        first, second = net_G(x), net_G(x)
    assert torch.allclose(first, expected, atol=1e-5)  # same masks: dropout in the same places
    assert not torch.equal(first, second)  # and it really is stochastic


def test_an_exercise3_generator_runs_as_training_validates_it(tmp_path):
    weights = write_exercise3_weights(tmp_path / "generator_weights.pth", epoch=4)
    net_G, name, size = open_generator(weights)
    saved = torch.load(weights, weights_only=True)
    expected = generator_at_test_time(saved["model_args"], saved["state_dict"])
    x = torch.randn(2, 3, 256, 256)
    with torch.no_grad():
        assert torch.allclose(net_G(x), expected(x), atol=1e-6)
    assert (name, size) == ("your model (epoch 4)", 256)
    with pytest.raises(LessonError, match="exercise1_observe.py --checkpoint .* colorize_sketch"):
        create_facades_generator(weights)  # the authors' loader points elsewhere


@pytest.mark.parametrize(
    "saved, words",
    [
        ("<html>404</html>", "not a PyTorch weights file .*; delete it and"),
        (random_official_state_dict(8), "is not the facades generator: shape"),
        ([torch.zeros(1)], "does not hold a state_dict"),
        ({"format_version": 1, "state_dict": {}, "model_args": {"x": 1}}, "does not fit the"),
    ],
    ids=["html", "ngf8", "list", "bad args"],
)
def test_open_generator_refuses_what_it_cannot_run(tmp_path, monkeypatch, saved, words):
    path = tmp_path / "facades_generator.pth"
    monkeypatch.setattr(facades_generator, "DEFAULT_CHECKPOINT", path)  # only it is ours to delete
    if isinstance(saved, str):
        path.write_text(saved)
    else:
        torch.save(saved, path)
    with pytest.raises(LessonError, match=words):
        open_generator(path)
