from __future__ import annotations

from experiment import storage


def test_local_paths_and_uris_read_and_write_alike(tmp_path):
    for root in (str(tmp_path / "plain"), (tmp_path / "uri").as_uri()):
        experiment = storage.join(root, "exp")
        assert not storage.exists(experiment)
        storage.write_text(storage.join(experiment, "trial_b", "result.json"), '{"epoch": 1}\n')
        storage.write_text(storage.join(experiment, "trial_a", "result.json"), "")
        storage.write_text(storage.join(experiment, "summary.json"), "{}")
        assert storage.exists(experiment)
        assert storage.subfolders(experiment) == [
            storage.join(experiment, "trial_a"),
            storage.join(experiment, "trial_b"),
        ]
        assert storage.read_text(storage.join(experiment, "trial_b", "result.json")) == (
            '{"epoch": 1}\n'
        )
    assert (tmp_path / "uri" / "exp" / "summary.json").read_text() == "{}"


def test_resolve_makes_local_paths_absolute_and_keeps_uris():
    assert storage.resolve("s3://bucket/exp") == "s3://bucket/exp"
    assert storage.resolve("experiments").startswith("/")
