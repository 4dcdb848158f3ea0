"""``python -m reports.export EXPERIMENT_DIR [--out DIR]``: write a search's deliverables.

Reads the experiment folder alone (finished, interrupted or still running; no Ray driver) and
writes ``ablations.csv``, ``nas.xlsx``, ``charts.pdf`` with a PNG per chart, and ``report.html``
into ``--out`` (default: ``EXPERIMENT_DIR/reports/``); with a refit (``nas.refit``), ``refit.csv``
too, a ``Refit`` sheet and a section of the report.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from experiment import storage
from experiment.layout import REPORTS
from experiment.results import Experiment, NowhereToWrite, load_experiment
from reports.charts import write_charts
from reports.html import write_html
from reports.tables import Derived, derive
from reports.workbook import write_workbook
from searchers.rebuild import study_for_reports


def export(derived: Derived, out: Path) -> list[Path]:
    """Write every report of an experiment (its tables, ``derived`` once for every writer) into
    the local folder ``out``; returns the paths. Never through a symbolic link: a link planted
    as the folder or one of its files could send the reports anywhere."""
    if out.exists() and not out.is_dir():
        raise NowhereToWrite(f"{out} is a file: give a folder for the reports (made if missing)")
    links = [path for path in (out, *(out.iterdir() if out.is_dir() else ())) if path.is_symlink()]
    if links:
        raise NowhereToWrite(
            f"{links[0]} is a symbolic link (to {links[0].readlink()}): the reports are written "
            "only into real files; remove the link, or give another --out"
        )
    out.mkdir(parents=True, exist_ok=True)
    csv = out / "ablations.csv"
    derived.ablations.to_csv(csv, index=False)
    refit = []
    if derived.refit is not None:
        refit = [out / "refit.csv"]
        derived.refit.models.to_csv(refit[0], index=False)
    return [
        csv,
        *refit,
        write_workbook(derived, out / "nas.xlsx"),
        *write_charts(derived, out),
        write_html(derived, out / "report.html"),
    ]


def derived_of(experiment: Experiment) -> Derived:
    """What every report shows of ``experiment``, its study rebuilt from the logs where it is
    damaged (said among its problems)."""
    if rebuilt := study_for_reports(experiment):
        experiment.problems += (rebuilt,)
    return derive(experiment)


def export_to(source: str | Experiment | Derived, out: str | None = None) -> list[str]:
    """Export an experiment, by location, loaded or derived, to ``out`` (default: its
    reports/)."""
    if isinstance(source, Derived):
        derived = source
    else:
        derived = derived_of(source if isinstance(source, Experiment) else load_experiment(source))
    out = out or storage.join(derived.experiment.location, REPORTS)
    if not storage.is_uri(out):
        return [str(p) for p in export(derived, Path(out))]
    with tempfile.TemporaryDirectory() as tmp:  # write locally, then copy to the object store
        written = []
        for path in export(derived, Path(tmp)):
            target = storage.join(out, path.name)
            storage.write_bytes(target, path.read_bytes())
            written.append(target)
        return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m reports.export", description=__doc__.splitlines()[0]
    )
    p.add_argument("experiment_dir", help="the experiment folder (a path or a URI)")
    p.add_argument("--out", help="where to write the reports (default: EXPERIMENT_DIR/reports)")
    args = p.parse_args(argv)
    try:
        experiment = load_experiment(args.experiment_dir)
        derived = derived_of(experiment)
        written = export_to(derived, args.out)
    except (FileNotFoundError, NowhereToWrite, storage.Unreachable) as e:
        print(f"reports.export: error: {e}.", file=sys.stderr)
        return 2
    except OSError as e:
        if (sentence := storage.cannot_write(e, args.out)) is None:
            raise
        print(f"reports.export: error: {sentence}", file=sys.stderr)
        return 1
    for line in derived.headline:  # the answer first, as in every report
        print(line)
    for path in written:
        print(path)
    for problem in experiment.problems:  # written from the rest; said, and a non-zero exit
        print(f"reports.export: error: {problem}.", file=sys.stderr)
    return 1 if experiment.problems else 0


if __name__ == "__main__":
    sys.exit(main())
