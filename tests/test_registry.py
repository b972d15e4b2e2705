"""The registry is the one list of models: everything that lists them agrees."""

from __future__ import annotations

import inspect
import pkgutil
from importlib import import_module

import pytest
from sklearn.base import BaseEstimator

import skeeg
from skeeg import model_file, registry
from skeeg.estimators.deep_classifier import DeepClassifierBase
from skeeg.estimators.eeg_classifier import EEGClassifierBase
from tests.test_common import CHECKED_ESTIMATORS, DEEP_ESTIMATORS

#: Modules whose public estimator classes must all be registered.
_ESTIMATOR_MODULES = [
    *(
        f"skeeg.estimators.{m.name}"
        for m in pkgutil.iter_modules(import_module("skeeg.estimators").__path__)
    ),
    "skeeg.preprocessing",
    "skeeg.features",
    "skeeg.training.strategies",
]


def _public_estimators(module_name: str) -> set[type]:
    module = import_module(module_name)
    return {
        obj
        for name, obj in vars(module).items()
        if inspect.isclass(obj)
        and issubclass(obj, BaseEstimator)
        and obj.__module__ == module_name
        and not name.startswith("_")
        and not inspect.isabstract(obj)
    }


def test_every_public_estimator_class_is_registered():
    registered = {e.cls for e in registry.ENTRIES}
    # Bases of a family (LossStrategy, NegativeSchedule) are not models.
    families = {
        import_module("skeeg.training.strategies").LossStrategy,
        import_module("skeeg.training.strategies").NegativeSchedule,
    }
    found = set().union(*map(_public_estimators, _ESTIMATOR_MODULES)) - families
    assert found - registered == set()


def test_names_and_paths_are_unique():
    assert len({e.name for e in registry.ENTRIES}) == len(registry.ENTRIES)
    assert len({e.path for e in registry.ENTRIES}) == len(registry.ENTRIES)


def test_top_level_names_are_the_registry():
    expected = {
        e.class_name
        for e in registry.entries("classifier", "loss", "negatives", "base")
    }
    assert set(skeeg.__all__) - {"__version__"} == expected
    for name in expected:
        assert (
            getattr(skeeg, name)
            is registry.get(
                next(e.name for e in registry.ENTRIES if e.class_name == name)
            ).cls
        )


def test_model_file_allows_exactly_the_registry_but_bases():
    assert set(model_file.ALLOWED_CLASSES) == {
        e.path for e in registry.ENTRIES if e.kind != "base"
    }


def test_common_suite_checks_every_classifier_and_transformer():
    checked = {type(e) for e in CHECKED_ESTIMATORS}
    for entry in registry.entries("classifier", "transformer"):
        assert entry.cls in checked, entry.name
    deep = {type(e) for e in DEEP_ESTIMATORS}
    for entry in registry.entries("classifier"):
        assert (entry.cls in deep) == issubclass(entry.cls, DeepClassifierBase)


def test_classifiers_share_the_eeg_base():
    for entry in registry.entries("classifier"):
        assert issubclass(entry.cls, EEGClassifierBase), entry.name


def test_get_names_what_exists():
    assert registry.get("sc").class_name == "SCClassifier"
    with pytest.raises(ValueError, match="unknown classifier name 'svm'.*sc, "):
        registry.get("svm", "classifier")
