"""What the product relies on in Optuna's and Ray Tune's private API (``searchers.optuna_compat``,
``searchers.ray_compat``), pinned: an upgrade that changes one fails here first."""

from __future__ import annotations

import ast
import contextlib
import subprocess
import sys

import optuna
import ray.cloudpickle as cloudpickle
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from ray import tune
from ray.tune.experiment import Trial
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search import ConcurrencyLimiter, SearchGenerator

from experiment.journal import journal_storage
from searchers.optuna_compat import (
    TPE_JOINT_DRAW,
    admits,
    forget_unused_draws,
    generations,
    set_intermediate_value,
    set_user_attr,
)
from searchers.ray_compat import (
    LIMITER,
    asha_metric,
    asha_time,
    local_ray_processes,
    recount_generator,
    restored_reporter,
    session_folder,
    take_back_stop,
    wrap_trial_errors,
)
from tests.conftest import REPO


def test_a_frozen_trial_is_written_through_the_journal(tmp_path):
    study = optuna.create_study(storage=journal_storage(str(tmp_path / "study.journal")))
    study.ask()
    frozen = study.get_trials(deepcopy=False)[0]
    set_user_attr(study, frozen, "parent", 7)
    set_intermediate_value(study, frozen, 3, 0.5)
    again = optuna.load_study(
        study_name=study.study_name, storage=journal_storage(str(tmp_path / "study.journal"))
    )
    assert again.trials[0].user_attrs == {"parent": 7}
    assert again.trials[0].intermediate_values == {3: 0.5}


def test_admits_what_a_distribution_can_hold():
    assert admits(CategoricalDistribution((16, 32)), 32)
    assert not admits(CategoricalDistribution((16, 32)), 48)
    assert admits(FloatDistribution(0.0, 1.0), 0.5) and not admits(FloatDistribution(0, 1), 2.0)
    odd = IntDistribution(1, 9, step=2)
    assert admits(odd, 3) and not admits(odd, 4)


def test_tunes_handle_error_counts_a_failure_and_is_wrapped_once(monkeypatch):
    monkeypatch.setattr(Trial, "handle_error", Trial.handle_error)  # put back after the test
    calls = []

    def wrapper(tune_handle_error, trial, error):
        calls.append(error)
        with contextlib.suppress(AttributeError):  # a stub trial has no folder for the error
            tune_handle_error(trial, error)

    wrap_trial_errors(wrapper)
    wrap_trial_errors(wrapper)  # idempotent: Tune's own method stays the one wrapped
    trial = Trial("__fake", stub=True)
    error = RuntimeError("boom")
    trial.handle_error(error)
    assert calls == [error] and trial.run_metadata.num_failures == 1


def test_asha_keeps_its_metric_sign_time_and_stop_count_where_fair_asha_reads_them():
    asha = ASHAScheduler(metric="val_loss", mode="min", time_attr="training_iteration", max_t=9)
    assert asha_metric(asha) == ("val_loss", -1.0)
    assert asha_time(asha) == ("training_iteration", 9)
    take_back_stop(asha)
    assert "num_stopped=-1" in asha.debug_string()


class Fixed(tune.search.Searcher):
    def suggest(self, trial_id):
        return {"a": 1}

    def on_trial_complete(self, trial_id, result=None, error=False):
        pass

    def save(self, checkpoint_path):
        open(checkpoint_path, "wb").close()

    def restore(self, checkpoint_path):
        pass


def test_a_recounted_generator_state_is_what_tune_restores(tmp_path):
    made = SearchGenerator(ConcurrencyLimiter(Fixed(metric="m", mode="max"), 2))
    made.save_to_dir(str(tmp_path), "s")
    path = tmp_path / SearchGenerator.CKPT_FILE_TMPL.format("s")
    state = cloudpickle.loads(path.read_bytes())
    assert state["counter"] == 0 and state[LIMITER]["live_trials"] == set()
    assert recount_generator(state, 3, {"b"}, total=5)
    assert not recount_generator(state, 3, {"b"}, total=5)  # already so: nothing to write
    path.write_bytes(cloudpickle.dumps(state))
    restored = SearchGenerator(ConcurrencyLimiter(Fixed(metric="m", mode="max"), 2))
    restored.restore_from_dir(str(tmp_path))
    assert restored.get_state()["counter"] == 3 and restored.total_samples == 5
    assert not restored.is_finished()
    assert restored.searcher.get_state()["live_trials"] == {"b"}
    assert restored.searcher.get_state()["num_unfinished_live_trials"] == 1


def test_a_local_ray_keeps_its_session_files_under_ray_tmpdir_else_tmpdir(monkeypatch):
    monkeypatch.delenv("RAY_TMPDIR", raising=False)
    monkeypatch.setenv("TMPDIR", "/somewhere")
    assert session_folder() == "/somewhere/ray"
    monkeypatch.setenv("RAY_TMPDIR", "/elsewhere")
    assert session_folder() == "/elsewhere/ray"
    monkeypatch.delenv("RAY_TMPDIR")
    monkeypatch.delenv("TMPDIR")
    assert session_folder() == "/tmp/ray"


def test_the_layout_names_a_trial_s_results_as_tune_writes_them():
    from ray.tune.result import EXPR_RESULT_FILE

    from experiment.layout import TRIAL_RESULTS

    assert TRIAL_RESULTS == EXPR_RESULT_FILE


def test_a_local_ray_s_own_processes_are_its_driver_s_to_watch():
    """``driver.interrupts`` polls them after a SIGTERM: the GCS server and raylet among them,
    running until Ray is shut down; none before Ray starts. Its workers, reused from trial to
    trial, wait 120 s (not Tune's 2) for a stopped trial's thread to end before the next."""
    assert local_ray_processes() == []
    script = """if True:
        import os, ray
        from driver.cluster import start_ray
        from driver.config import RunConfig
        from searchers.ray_compat import local_ray_processes
        start_ray(RunConfig(space="cifar_lt200k", num_cpus=1))
        processes = local_ray_processes()
        waits = ray.remote(lambda: os.environ.get("TUNE_FUNCTION_THREAD_TIMEOUT_S"))
        print(repr(ray.get(waits.remote())))
        print(sorted(os.path.basename(p.args[0]) for p in processes))
        print([p.poll() for p in processes])
        ray.shutdown()
        print([p.poll() is None for p in processes])
    """
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    waits, names, running, after = map(ast.literal_eval, done.stdout.splitlines()[-4:])
    assert waits == "120"
    assert {"gcs_server", "raylet"} <= set(names), names
    assert running == [None] * len(names) and after == [False] * len(names)


def test_tpe_reads_a_running_trial_by_its_knobs_once_its_joint_draw_is_forgotten():
    sampler = optuna.samplers.TPESampler(
        n_startup_trials=2, multivariate=True, group=True, constant_liar=True, seed=0
    )
    study = optuna.create_study(sampler=sampler)
    for _ in range(3):  # two random, then a joint draw of x and y, of which it uses x alone
        trial = study.ask()
        x = trial.suggest_float("x", 0, 1)
        if trial.number < 2:
            trial.suggest_float("y", 0, 1)
            study.tell(trial, x)
    running = study.trials[-1]
    assert f"{TPE_JOINT_DRAW}:0" in running.system_attrs
    assert set(sampler._get_params(running, study)) == {"x", "y"}
    forget_unused_draws(study, trial)
    assert sampler._get_params(study.trials[-1], study) == {"x": running.params["x"]}


def test_nsga2_keeps_each_trials_generation_where_generations_says():
    sampler = optuna.samplers.NSGAIISampler(population_size=4, seed=0)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    key, population = generations(sampler)
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    assert population == 4 and study.trials[-1].system_attrs[key] == 0
    assert generations(optuna.samplers.RandomSampler()) is None


def test_the_reporter_of_a_tuner_is_the_one_it_prints_with():
    reporter = tune.CLIReporter()
    tuner = tune.Tuner(lambda config: None, run_config=tune.RunConfig(progress_reporter=reporter))
    assert restored_reporter(tuner) is reporter


def test_rays_wandb_callback_takes_its_logging_actor_class_from_the_attribute_we_set():
    import inspect

    from ray.air.integrations.wandb import WandbLoggerCallback, _WandbLoggingActor

    from driver.wandb_logs import TornDownLoggingActor, WandbFromResults

    assert WandbFromResults._logger_actor_cls is TornDownLoggingActor
    assert issubclass(TornDownLoggingActor, _WandbLoggingActor)
    source = inspect.getsource(WandbLoggerCallback._start_logging_actor)
    assert "(self._logger_actor_cls)" in source  # the class Ray makes the remote actor of
    assert "self._wandb.finish()" in inspect.getsource(_WandbLoggingActor.run)  # then ours
