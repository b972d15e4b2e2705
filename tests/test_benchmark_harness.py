"""The benchmark harness (``benchmarks/harness.py``): its command line, its
provenance and its results files."""

from __future__ import annotations

import json
import shlex
import sys

import pytest

from tests.conftest import REPO_ROOT
from tests.test_benchmarks import _load_benchmark


@pytest.fixture(scope="module")
def harness():
    return _load_benchmark("harness")


def test_parser_has_size_and_the_named_options(harness, tmp_path):
    sizes = {"smoke": 1, "reduced": 2}
    parser = harness.argument_parser(
        "First line.\n\nMore.", sizes, harness.SPEED, threads=harness.ONE_THREAD
    )
    assert parser.description == "First line."
    args = parser.parse_args(["--size", "smoke", "--out", str(tmp_path)])
    assert (args.size, args.device, args.threads, args.seed) == ("smoke", "cpu", 1, 0)
    assert args.out == tmp_path
    assert not hasattr(args, "seeds") and not hasattr(args, "data")
    with pytest.raises(SystemExit):
        parser.parse_args(["--size", "full"])
    study = harness.argument_parser("Doc.", sizes).parse_args([])
    assert (study.size, study.seeds, study.threads) == ("reduced", None, None)
    assert study.data == harness.default_data_dir()


def test_parser_refuses_unknown_options(harness):
    with pytest.raises(ValueError, match="Unknown or unused options \\['gpu'\\]"):
        harness.argument_parser("Doc.", None, ("device", "gpu"))
    with pytest.raises(ValueError, match="\\['seeds'\\]"):
        harness.argument_parser("Doc.", None, ("device",), seeds={"help": "x"})


def test_provenance_and_results_files(harness, tmp_path):
    args = harness.argument_parser("Doc.", {"reduced": 0}).parse_args([])
    argv = ["--size", "reduced", "--out", "a b"]
    meta = harness.provenance(
        str(REPO_ROOT / "benchmarks" / "x.py"), argv, args, seeds=[0, 1]
    )
    assert shlex.split(meta["command"]) == ["python", "benchmarks/x.py", *argv]
    assert meta["size"] == "reduced" and meta["seeds"] == [0, 1]
    assert meta["device"] == "cpu" and meta["gpu"] is None
    assert meta["versions"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert {"skeeg", "torch", "skorch", "sklearn", "numpy"} <= set(meta["versions"])
    assert meta["git_commit"] is None or len(meta["git_commit"].split("-")[0]) == 40

    stem = tmp_path / "sub" / "x_reduced"
    result = harness.write_results(stem, meta, [{"a": 1}], "table", table=[2])
    saved = json.loads(stem.with_suffix(".json").read_text())
    assert saved == json.loads(json.dumps(result))
    assert saved["rows"] == [{"a": 1}] and saved["table"] == [2]
    assert saved["metadata"]["wall_s"] >= 0
    assert stem.with_suffix(".txt").read_text() == "table\n"
    # Rewriting saved results keeps their time.
    meta["wall_s"] = 123.0
    harness.write_results(stem, meta, [], "again", rewrite=True)
    rewritten = json.loads(stem.with_suffix(".json").read_text())
    assert rewritten["metadata"]["wall_s"] == 123


def test_run_worker_reads_the_result_line_with_threads_pinned(harness, tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(
        "import os, sys\n"
        f"sys.path.insert(0, {str(REPO_ROOT / 'benchmarks')!r})\n"
        "import harness\n"
        "print('noise')\n"
        "harness.print_worker_result("
        "{'omp': os.environ['OMP_NUM_THREADS'], 'argv': sys.argv[1:]})\n"
    )
    result = harness.run_worker(str(script), ["--n", "3"], threads=2)
    assert result == {"omp": "2", "argv": ["--n", "3"]}
    script.write_text("raise SystemExit('broken')\n")
    with pytest.raises(RuntimeError, match="broken"):
        harness.run_worker(str(script), [], threads=1)
