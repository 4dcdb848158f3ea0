"""RunConfig from the flags: where the defaults come from."""

from __future__ import annotations

from pathlib import Path

import pytest

from driver.config import RunConfig


@pytest.mark.parametrize("value", ["", None])
def test_an_empty_or_unset_nas_data_dir_means_the_default_folder(value, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    if value is None:
        monkeypatch.delenv("NAS_DATA_DIR", raising=False)
    else:
        monkeypatch.setenv("NAS_DATA_DIR", value)  # as `NAS_DATA_DIR= nas.run ...` sets it
    config = RunConfig.from_flags({"space": "cifar_lt200k"})
    assert config.data_dir == str(tmp_path / "data")  # not the current folder itself
    monkeypatch.setenv("NAS_DATA_DIR", str(tmp_path / "elsewhere"))
    assert RunConfig.from_flags({"space": "cifar_lt200k"}).data_dir == str(
        Path(tmp_path / "elsewhere")
    )
