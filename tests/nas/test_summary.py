"""``nas.summary``: a preset's layer table and whether the space's rules hold, no training."""

from __future__ import annotations

from nas.summary import main


def test_the_seed_presets_table_ends_in_its_totals_and_rules(capsys):
    assert main(["--space", "cifar_lt200k"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "cifar_lt200k / seed: CifarNetSpec"
    assert lines[1].split() == ["Layer", "Type", "Output", "shape", "Params"]
    assert lines[-4:] == [
        "Total params: 197,392",
        "MACs per image: 38,516,992",
        "Receptive field: 67",
        "Rules (params < 200,000, receptive field > 44, a dilated conv, a depthwise-separable "
        "conv, no max-pooling, global average pooling): all met",
    ]
    layers = lines[3:-5]
    assert sum(int(line.split()[-1].replace(",", "")) for line in layers) == 197_392


def test_unknown_space_or_preset_is_one_sentence(capsys):
    assert main(["--space", "cifar_lt500k"]) == 2
    assert capsys.readouterr().err.strip() == (
        "nas.summary: error: unknown space 'cifar_lt500k'; known spaces: cifar_lt200k, "
        "hw2p2_resnet."
    )
    assert main(["--space", "cifar_lt200k", "--preset", "big"]) == 2
    assert capsys.readouterr().err.strip() == (
        "nas.summary: error: space cifar_lt200k has no preset 'big'; known presets: seed."
    )
