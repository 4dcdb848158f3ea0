"""Every name of an experiment folder's layout, stated once. Paths are relative to the
experiment folder (``EXPERIMENT/``) unless said; Tune's own snapshot files
(``experiment_state-*.json``, ``searcher-state-*.pkl``, ``search_gen_state-*.json``) and a
trial's ``result.json``/``progress.csv`` are named by Tune and read through its constants, but for
TRIAL_RESULTS below."""

RUN_RECORD = "run.json"  # the command, options, space, versions; written before any trial
SUMMARY = "summary.json"  # the best trial, the counts, what mattered; the refit's results
DRIVER = "driver.json"  # the lock of the driver running the experiment (host, pid, heartbeat)
STUDY = "study.journal"  # the searcher's Optuna study, in Optuna's journal file storage
REJECTED_LOG = "rejected.jsonl"  # one line per candidate that broke the space's rules
NODE_LOST = "node_lost.jsonl"  # in a trial's folder: one line per loss of its worker
# in a trial's folder: one line per time it started over (its checkpoints could not be restored)
STARTED_OVER = "started_over.jsonl"
REPORTS = "reports"  # the folder of ablations.csv, nas.xlsx, report.html and the charts
REFIT = "refit"  # the folder of the refit (nas.refit), an experiment of its own
REFIT_RECORD = "refit.json"  # in REFIT: what was refit, how, and for which search
# in a trial's folder: its epochs, one JSON line each; Tune's EXPR_RESULT_FILE, named here so
# that readers of finished experiments (reports, nas.predict) need not import Ray (pinned in
# tests/nas/test_compat.py)
TRIAL_RESULTS = "result.json"
ORPHANED = "orphaned"  # trials Tune never recorded, set aside on resume
TORN = "torn snapshots"  # in ORPHANED: Tune snapshots a kill left incomplete
# a copy of the Tune snapshot a resume started from, out of Tune's reach (its uploads rewrite
# every snapshot file at the folder's top level, older sessions' too: a kill mid-upload can cut
# them all)
WHOLE_SNAPSHOT = "whole snapshot"
