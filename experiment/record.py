"""``run.json``: what started an experiment, written into its folder before any trial runs.

The command line, the options as given and what the driver derived from them (its plan), the
space, the seed, package versions, the git commit and the machine, with the first driver's
start (and, when it ends, end) time. Each resume is appended to ``resumes`` (its command,
times, trials asked for and git commit); one that grew the search (a larger
``--num-samples``) says from how many, and the options hold the new count. Reports read it for
their ``Run`` sheet.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from experiment import storage
from experiment.layout import RUN_RECORD

PACKAGES = ("torch", "torchvision", "ray", "optuna", "albumentations", "numpy", "pandas")
REPO = Path(__file__).resolve().parents[1]


def now() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def git_commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


def device(cluster_resources: dict) -> dict:
    """The driver's CPU and GPUs, and what the Ray cluster offers."""
    import torch

    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        lines = cpuinfo.read_text().splitlines()
        names = [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {
        "driver_cpu": cpu,
        "driver_gpus": gpus,
        "cluster_cpus": cluster_resources.get("CPU", 0),
        "cluster_gpus": cluster_resources.get("GPU", 0),
    }


def start_record(
    experiment: str,
    options,
    plan,
    cluster_resources: dict,
    resume: bool,
    space_fingerprint: str,
) -> dict:
    """Write (or, on resume, extend) the experiment's run.json and return it. ``options``: the
    run config as the user gave it (``driver.config.RunConfig``), which a resume is checked
    against; ``plan``: what the driver derived from it (``driver.plan.Plan``: classes, first
    rung, resources), recorded once beside it."""
    path = storage.join(experiment, RUN_RECORD)
    command = shlex.join([Path(sys.executable).name, "-m", "nas.run", *sys.argv[1:]])
    if resume and storage.exists(path):
        record = json.loads(storage.read_text(path))
        burst = {"command": command, "started": now(), "num_samples": options.num_samples}
        given = record.get("asked") or record["options"]  # what a resume is checked against
        if given.get("num_samples") != options.num_samples:  # a grown search
            burst["grew_from"] = given["num_samples"]
            given["num_samples"] = options.num_samples
        burst["git_commit"] = git_commit()
        record.setdefault("resumes", []).append(burst)
    else:
        record = {
            "command": command,
            "space": options.space,
            "space_fingerprint": space_fingerprint,
            "seed": options.seed,
            "searcher": options.searcher,
            "scheduler": {
                "kind": "ASHA",
                "time_attr": "training_iteration (epochs)",
                "max_epochs": options.max_epochs,
                "grace_period": plan.grace_period,
                "reduction_factor": options.reduction_factor,
            },
            "options": dataclasses.asdict(options),
            "plan": dataclasses.asdict(plan),
            "versions": versions(),
            "git_commit": git_commit(),
            "device": device(cluster_resources),
            "started": now(),
            "ended": None,
        }
    storage.write_text(path, json.dumps(record, indent=1))
    return record


def ran_with(record: dict) -> dict:
    """The options the trials ran with: run.json's options as given, with the driver's plan
    applied (older run.json files recorded them so, as ``options``, the user's as ``asked``)."""
    return {**record.get("options", {}), **record.get("plan", {})}


def end_record(experiment: str) -> None:
    path = storage.join(experiment, RUN_RECORD)
    if storage.exists(path):
        record = json.loads(storage.read_text(path))
        session = record["resumes"][-1] if record.get("resumes") else record  # this driver's
        session["ended"] = now()
        storage.write_text(path, json.dumps(record, indent=1))


class RecordError(Exception):
    """run.json is there but cannot be read (a truncated write, a hand edit); names the file."""


def read_record(experiment: str) -> dict:
    """The experiment's run.json, or an empty dict for folders made without it."""
    path = storage.join(experiment, RUN_RECORD)
    if not storage.exists(path):
        return {}
    try:
        record = json.loads(storage.read_text(path))
    except ValueError as e:  # not JSON, or not even text
        raise RecordError(f"{path} is not valid JSON ({e})") from None
    if not isinstance(record, dict):
        raise RecordError(f"{path} is not valid JSON (a {type(record).__name__}, not an object)")
    return record
