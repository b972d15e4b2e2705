"""Searches on a Dask cluster: joblib's Dask backend runs GridSearchCV and
cross_validate fits in the worker processes, with the scores of a run in one
process.

The cluster is a ``LocalCluster`` of two worker processes, each started by a
nanny as ``dask worker`` starts them on another machine: the estimators, the
data and the fitted models travel by pickle, and skeeg is imported in the
workers. docs/scaling.md has the commands for a cluster of machines.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from operator import methodcaller

import numpy as np
import pytest
import sklearn
import torch
from joblib import parallel_config
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_validate
from sklearn.pipeline import Pipeline

from skeeg import HMMClassifier, SCClassifier, SiameseESClassifier
from skeeg.preprocessing import Scaler
from tests.conftest import bump_dataset

# Three EDF recordings written to a temporary folder, and their LazyWindows.
from tests.test_lazy_dataset import dataset, recordings  # noqa: F401
from tests.test_siamese_es import two_task_dataset

distributed = pytest.importorskip(
    "distributed", reason="dask.distributed is in skeeg's 'scale' extra"
)

pytestmark = pytest.mark.slow

CV = GroupKFold(2)
SC = dict(
    width=4,
    max_epochs=2,
    batch_size=16,
    loss="bce",
    random_state=0,
    device="cpu",
)


@pytest.fixture(scope="module")
def client():
    # Processes, not threads: each worker is a separate interpreter, as on a
    # separate machine. The context managers close the cluster on failure.
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def data():
    return bump_dataset(n_windows=64, n_channels=2, n_times=32)


def sc_pipeline() -> Pipeline:
    return Pipeline([("scale", Scaler()), ("clf", SCClassifier(**SC))])


@contextmanager
def one_torch_thread():
    """Run torch on one thread here, as in the workers.

    The reduction order of a CPU convolution depends on the thread count:
    the same fits on 2 threads and on 1 differ by ~1e-8 (relative) in the
    log-loss. On one thread each, local and worker fits are bit-identical.
    """
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n_threads)


def calls_per_worker(tasks: list[dict]) -> dict[str, int]:
    """Joblib calls each worker ran, from ``get_task_stream`` records.

    joblib's Dask backend submits batches of calls under the key
    ``batch_of_<function>_<n>_calls-<uuid>``.
    """
    counts: dict[str, int] = {}
    for task in tasks:
        match = re.match(r".*batch_of_.*_(\d+)_calls", task["key"])
        if match:
            counts[task["worker"]] = counts.get(task["worker"], 0) + int(match[1])
    return counts


def on_dask(client, function, **backend_params):
    """Run ``function()`` under joblib's Dask backend; return its result and
    the joblib calls each worker ran."""
    with (
        distributed.get_task_stream(client) as stream,
        parallel_config("dask", **backend_params),
    ):
        result = function()
    return result, calls_per_worker(stream.data)


def test_workers_run_torch_with_one_thread(client):
    # The nanny sets OMP_NUM_THREADS=1 before it starts the worker process
    # (dask's distributed.nanny.pre-spawn-environ), and torch reads it.
    threads = client.run(torch.get_num_threads)
    assert sorted(threads.values()) == [1, 1]


def test_grid_search_runs_on_the_workers_with_sequential_scores(client, data):
    X, y, groups = data
    grid = {"clf__lr": [1e-3, 1e-2]}
    kwargs = dict(param_grid=grid, cv=CV, scoring="neg_log_loss")
    with one_torch_thread():
        local = GridSearchCV(sc_pipeline(), n_jobs=1, **kwargs)
        local.fit(X, y, groups=groups)
    search, calls = on_dask(
        client,
        lambda: GridSearchCV(sc_pipeline(), n_jobs=-1, **kwargs).fit(
            X, y, groups=groups
        ),
    )
    # Every (candidate, fold) fit ran in a worker process, and both took part.
    assert set(calls) == set(client.scheduler_info()["workers"])
    assert sum(calls.values()) == 2 * CV.get_n_splits()
    for key in ("split0_test_score", "split1_test_score", "mean_test_score"):
        np.testing.assert_array_equal(search.cv_results_[key], local.cv_results_[key])
    assert search.best_params_ == local.best_params_


def test_cross_validate_returns_worker_fits_that_predict_as_local_ones(client, data):
    X, y, groups = data
    kwargs = dict(
        groups=groups,
        cv=CV,
        scoring=("roc_auc", "neg_log_loss"),
        return_estimator=True,
    )
    with one_torch_thread():
        local = cross_validate(sc_pipeline(), X, y, n_jobs=1, **kwargs)
    # scatter: X and y are sent to every worker once, before the fits.
    result, calls = on_dask(
        client,
        lambda: cross_validate(sc_pipeline(), X, y, n_jobs=2, **kwargs),
        scatter=[X, y],
    )
    assert sum(calls.values()) == CV.get_n_splits()
    for key in ("test_roc_auc", "test_neg_log_loss"):
        np.testing.assert_array_equal(result[key], local[key])
    # The fitted pipelines were pickled in a worker and unpickled here; the
    # first goes back to a worker and predicts there.
    for remote, here in zip(result["estimator"], local["estimator"], strict=True):
        np.testing.assert_array_equal(remote.predict_proba(X), here.predict_proba(X))
    fitted = result["estimator"][0]
    in_worker = client.submit(methodcaller("predict_proba", X), fitted).result()
    with one_torch_thread():
        np.testing.assert_array_equal(in_worker, fitted.predict_proba(X))


def test_classical_grid_search_on_the_workers(client, data):
    X, y, groups = data
    kwargs = dict(
        param_grid={"n_states": [2, 3]}, cv=CV, scoring="roc_auc", error_score="raise"
    )
    hmm = HMMClassifier(frame_len=8, n_iter=20, random_state=0)
    local = GridSearchCV(hmm, n_jobs=1, **kwargs).fit(X, y, groups=groups)
    search, calls = on_dask(
        client,
        lambda: GridSearchCV(hmm, n_jobs=-1, **kwargs).fit(X, y, groups=groups),
    )
    assert sum(calls.values()) == 2 * CV.get_n_splits()
    np.testing.assert_array_equal(
        search.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )


def test_sleep_stage_routes_to_the_workers(client):
    X, y, stage = two_task_dataset(n_windows=64, n_times=64)
    groups = np.arange(len(y)) % 4
    # With routing on, groups go through params too (to the splitter and fit).
    params = {"sleep_stage": stage, "groups": groups}
    clf = SiameseESClassifier(
        width=4, max_epochs=2, batch_size=16, loss="bce", random_state=0, device="cpu"
    )
    with sklearn.config_context(enable_metadata_routing=True):
        clf.set_fit_request(sleep_stage=True, groups=True)
        pipe = Pipeline([("clf", clf)])
        kwargs = dict(cv=CV, params=params, return_estimator=True)
        with one_torch_thread():
            local = cross_validate(pipe, X, y, n_jobs=1, **kwargs)
        # sklearn's delayed carries the configuration (metadata routing on)
        # into the worker processes.
        result, calls = on_dask(
            client, lambda: cross_validate(pipe, X, y, n_jobs=2, **kwargs)
        )
    assert sum(calls.values()) == CV.get_n_splits()
    np.testing.assert_array_equal(result["test_score"], local["test_score"])
    for remote, here in zip(result["estimator"], local["estimator"], strict=True):
        # Without the stages in the workers' fit the sleep head is untrained
        # and predict_sleep raises.
        np.testing.assert_array_equal(
            remote[-1].predict_sleep(X), here[-1].predict_sleep(X)
        )


def test_lazy_windows_are_read_in_the_workers(client, dataset):  # noqa: F811
    # The LazyWindows pickles as its index and file paths; each worker opens
    # the recordings itself (here they share the file system).
    clf = SCClassifier(**SC)
    kwargs = dict(groups=dataset.groups, cv=GroupKFold(3), scoring="roc_auc")
    with one_torch_thread():
        eager = cross_validate(clf, np.asarray(dataset), dataset.y, **kwargs)
    lazy, calls = on_dask(
        client, lambda: cross_validate(clf, dataset, dataset.y, n_jobs=-1, **kwargs)
    )
    assert sum(calls.values()) == 3
    np.testing.assert_array_equal(lazy["test_score"], eager["test_score"])
