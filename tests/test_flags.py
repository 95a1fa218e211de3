"""Every number and design a facades script reads from its command line is checked before any
work: a bad one is refused with one sentence (`error: ...`, exit status 2), nothing loaded,
downloaded or written."""

import pytest

import download_pretrained
import exercise2_explore
from helpers.facade_labels import FacadeDesign


def refused(capsys, main, argv):
    """The one line main(argv) printed on refusing it."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    "seed, why",
    [
        ("-1", "must be at least 0, not -1"),
        (str(2**63), f"must be below 2**32 = {2**32}, not {2**63}"),
        (str(2**70), f"must be below 2**32 = {2**32}, not {2**70}"),
        ("1.5", "'1.5' is not a whole number"),
    ],
)
def test_exercise2_seeds_outside_what_the_generators_take(seed, why, tmp_path, capsys):
    err = refused(capsys, exercise2_explore.main, ["--seed", seed, "--output-dir", str(tmp_path)])
    assert err.startswith(f"error: argument --seed: {why}; see `python ") and "--help" in err
    assert exercise2_explore.parse_args(["--seed", str(2**32 - 1)]).seed == 2**32 - 1


@pytest.mark.parametrize(
    "design, why",
    [
        ('{"floors": 3.5}', "floors must be a whole number, not 3.5"),
        ('{"seed": -1}', "seed must be between 0 and 4294967295, not -1"),
        ('{"seed": 4294967296}', "seed must be between 0 and 4294967295, not 4294967296"),
        ('{"shop_front": "yes"}', 'shop_front must be true or false, not "yes"'),
        ('{"floors": true}', "floors must be a whole number, not true"),
        ('{"window_width": NaN}', "window_width must be between 0 and 1, not nan"),
        ('{"door": 2}', "door must be a word, not 2"),
        ("[3]", 'a design is a JSON object such as {"floors": 3}, not [3]'),
    ],
)
def test_exercise2_designs_of_the_wrong_type_or_range(design, why, tmp_path, capsys):
    argv = ["--design", design, "--output-dir", str(tmp_path), "--checkpoint", "never_read.pth"]
    err = refused(capsys, exercise2_explore.main, argv)
    assert err == (
        f"error: --design is not a valid facade design ({why}); see FacadeDesign in "
        "helpers/facade_labels.py.\n"
    )
    assert not list(tmp_path.iterdir())


def test_designs_take_whole_numbers_where_fractions_go():
    design = FacadeDesign.from_spec('{"window_width": 1, "margin": 0, "seed": 4294967295}')
    assert (design.window_width, design.margin, design.seed) == (1, 0, 2**32 - 1)


@pytest.mark.parametrize(
    "flag, value, why",
    [
        ("--retries", "-1", "must be at least 0, not -1"),
        ("--retries", "two", "'two' is not a whole number"),
        ("--timeout", "0", "must be a finite number above 0, not 0"),
        ("--timeout", "nan", "must be a finite number above 0, not nan"),
        ("--timeout", "inf", "must be a finite number above 0, not inf"),
        ("--num-samples", "0", "must be at least 1, not 0"),
        ("--url", "ftp://example.org/w.pth", "'ftp://example.org/w.pth' is not an http:// or"),
        ("--samples-url", "example.org/CMP.zip", "'example.org/CMP.zip' is not an http:// or"),
    ],
)
def test_downloader_flags_are_refused_before_any_download(flag, value, why, tmp_path, capsys):
    argv = [flag, value, "--checkpoint-dir", str(tmp_path / "c")]
    err = refused(capsys, download_pretrained.main, argv)
    assert err.startswith(f"error: argument {flag}: {why}") and "--help" in err
    assert not (tmp_path / "c").exists()  # nothing made, nothing fetched
