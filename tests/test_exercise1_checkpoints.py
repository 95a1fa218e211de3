"""Exercise 1 with your own generator beside the authors': --checkpoint takes the official weights
and generator_weights.pth files that exercise3_train.py wrote, one generated row each; weights
holding NaN are refused in one sentence.

The facades-like pairs come from the shipped label designer, and every network has random weights
(tests/exercise1_support.py): this tests the plumbing, and its pictures are noise, not results.
"""

import pytest
import torch
from PIL import Image

import facades_generator
from facades_generator import load_label
from helpers.checkpoints import load_generator
from helpers.lesson import LessonError
from helpers.lesson import image_to_tensor
from pix2pix_models import UNetGenerator, translate
from tests.exercise1_support import run, write_exercise3_weights, write_facades_pairs
from tests.official_reference import random_official_state_dict


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    return write_facades_pairs(tmp_path_factory.mktemp("facades") / "val")


def test_your_model_gets_a_row_beside_the_authors_and_the_real_photos(
    checkpoint, random_generator, reuse_net, pairs, tmp_path, capsys, grid_spy
):
    ours = write_exercise3_weights(tmp_path / "facades_run" / "generator_weights.pth", epoch=3)
    output = tmp_path / "both.png"
    argv = ["--checkpoint", checkpoint, ours, "--labels", pairs[0].parent, "--output", output]
    out = run([*argv, "--device", "cpu"], capsys)

    assert "authors' model: loaded in" in out.out and "your model (epoch 3): loaded in" in out.out
    [grid] = grid_spy
    assert grid["row_titles"] == [
        "label (input)",
        f"authors' model\n{checkpoint.parent.name}/",
        "your model (epoch 3)\nfacades_run/",
        "real photo (target)",
    ]
    labels, authors, yours, photos = (torch.stack(row) for row in grid["rows"])
    assert grid["col_titles"] == ["1", "2", "3"] and labels.shape == (3, 3, 256, 256)
    for path, label, photo in zip(pairs, labels, photos, strict=True):  # right half, left half
        with Image.open(path) as pair:
            assert (label == load_label(pair.crop((256, 0, 512, 256)))).all(0).float().mean() > 0.95
            assert torch.equal(photo, image_to_tensor(pair.crop((0, 0, 256, 256))))
    # Each row is its own network's output for the labels above it (the authors' checked on one
    # column: with per-image statistics an image's output does not depend on its batch).
    assert torch.allclose(authors[-1:], translate(random_generator(), labels[-1:]), atol=1e-4)
    net_G, image_size = load_generator(ours)
    assert image_size == 256 and torch.allclose(yours, translate(net_G, labels), atol=1e-5)
    assert not torch.allclose(authors, yours, atol=1e-2)
    with Image.open(output) as png:  # four rows
        assert png.format == "PNG" and png.height > 4 * 200


def test_your_model_alone_and_at_its_own_image_size(pairs, tmp_path, capsys, grid_spy):
    """A model trained with --image-size 512 translates the labels at 512."""
    ours = write_exercise3_weights(tmp_path / "generator_weights.pth", epoch=7, image_size=512)
    out = run(
        ["--checkpoint", ours, "--labels", pairs[0], "--output", tmp_path / "mine.png"], capsys
    )
    assert "your model (epoch 7): loaded in" in out.out
    [grid] = grid_spy
    assert grid["row_titles"] == ["label (input)", "your model (epoch 7)", "real photo (target)"]
    assert grid["rows"][1][0].shape == (3, 512, 512)
    assert grid["title"] == "Exercise 1: facade labels -> pix2pix (generator_weights.pth)"


def test_exercise3_checkpoint_is_pointed_to_its_generator(tmp_path, capsys):
    checkpoint = tmp_path / "exercise3_checkpoint.pth"
    torch.save(dict(format_version=1, epoch=2, net_G=UNetGenerator(ngf=8).state_dict()), checkpoint)
    with pytest.raises(SystemExit) as exit_info:
        run(["--checkpoint", checkpoint, "--output", tmp_path / "o.png"], capsys)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1
    assert (
        "is exercise3_train.py's checkpoint, not its generator; pass generator_weights.pth" in err
    )


def test_the_other_scripts_point_exercise3_weights_to_exercise1(tmp_path):
    ours = write_exercise3_weights(tmp_path / "generator_weights.pth")
    with pytest.raises(LessonError, match="python exercise1_observe.py --checkpoint .*colorize"):
        facades_generator.create_facades_generator(ours)


def nan_weights(path, official=True):
    """A weights file with one NaN: in the official layout (small: the NaN check comes first), or
    as exercise3_train.py writes it."""
    if not official:
        write_exercise3_weights(path)
        saved = torch.load(path, weights_only=True)
        saved["state_dict"]["up4.1.weight"][0] = float("nan")
        torch.save(saved, path)
        return path
    state_dict = random_official_state_dict(ngf=8)
    state_dict["model.model.0.weight"].view(-1)[5] = float("nan")
    torch.save(state_dict, path)
    return path


@pytest.mark.parametrize("official", [True, False])
def test_weights_holding_nan_are_refused_in_one_sentence(tmp_path, capsys, official):
    """One NaN used to give an all-black facade and exit 0."""
    weights = nan_weights(tmp_path / "nan.pth", official)
    output = tmp_path / "o.png"
    with pytest.raises(SystemExit) as exit_info:
        run(["--checkpoint", weights, "--output", output], capsys)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert f"{weights} holds NaN or infinite weights" in err
    assert not output.exists()


def test_an_all_black_facade_is_what_nan_weights_gave(tmp_path):
    """Why they are refused: the NaN spreads to every pixel (here, through a model loaded without
    the check)."""
    net_G = UNetGenerator(ngf=8).eval()
    with torch.no_grad():
        net_G.down1[0].weight.view(-1)[5] = float("nan")
    fake_B = translate(net_G, load_label(Image.new("RGB", (256, 256), (0, 0, 220)))[None])
    assert torch.isnan(fake_B).all()


def test_the_facades_route_of_docs_training_from_pairs_to_exercise1(tmp_path, capsys, grid_spy):
    """docs/training.rst's "Beyond": facades pairs are split by preprocess_anime_sketches.py, found
    READY, trained on by exercise3_train.py (one tiny epoch), and that run's generator_weights.pth
    gets its row in Exercise 1 above the real photos."""
    import exercise3_train
    import preprocess_anime_sketches

    facades = tmp_path / "facades"
    write_facades_pairs(facades / "train", count=4, seed=1)
    val = write_facades_pairs(facades / "val", count=2, seed=2)
    processed, run_dir = tmp_path / "facades_processed", tmp_path / "facades_run"
    preprocess_anime_sketches.main(["--input", str(facades), "--output", str(processed)])
    preprocess_anime_sketches.main(["--output", str(processed), "--verify"])
    assert "a label -> photo set such as facades" in capsys.readouterr().out
    tiny = ["--epochs", "1", "--ngf", "8", "--ndf", "8", "--val-images", "2", "--device", "cpu"]
    exercise3_train.main(["--data", str(processed), "--quick", *tiny, "--output-dir", str(run_dir)])
    capsys.readouterr()

    weights = run_dir / "generator_weights.pth"
    argv = ["--checkpoint", weights, "--labels", facades / "val", "--output", tmp_path / "ex1.png"]
    out = run([*argv, "--device", "cpu"], capsys)
    assert "your model (epoch 1): loaded in" in out.out
    [grid] = grid_spy
    assert grid["row_titles"] == ["label (input)", "your model (epoch 1)", "real photo (target)"]
    labels, yours, photos = (torch.stack(row) for row in grid["rows"])
    net_G, _ = load_generator(weights)
    assert torch.allclose(yours, translate(net_G, labels), atol=1e-5)
    assert len(val) == len(photos) == 2
