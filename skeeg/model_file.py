"""One file for a fitted model: save and load without running pickle.

A skeeg model file (``.skeeg``) is a zip archive (:mod:`zipfile`) holding

- ``manifest.json``: the format name and version; the skeeg, torch,
  scikit-learn, numpy and Python versions that wrote it; the recording
  metadata the model expects (sampling rate, channel names, window length);
  the classes; a training-data summary; and the estimator tree — for each
  estimator (a Pipeline and each of its steps) its class, its
  ``get_params(deep=False)`` as JSON and its fitted state;
- ``arrays/<i>.npy``: the numpy arrays of that state, read back with
  ``np.load(allow_pickle=False)``;
- ``weights/<i>.pt``: network weights (a ``state_dict``), read back with
  ``torch.load(weights_only=True, map_location="cpu")``.

Loading unpickles nothing: JSON, ``.npy`` arrays without object dtype, and
tensors through torch's weights-only unpickler. The classes a file may name
are those of :mod:`skeeg.registry` (:data:`ALLOWED_CLASSES`), and the
registry says how each is rebuilt:

- ``"params"``: built from its parameters; its fitted state is what its
  ``__skeeg_state__()`` returns and ``__skeeg_restore__(state, device=...)``
  takes back (each estimator owns that: a deep classifier adds its
  network's weights, the HMM classifier its hmmlearn models as arrays), or,
  without those methods, its public fitted attributes (names ending in
  ``_``; :func:`fitted_state`, :func:`restore_fitted_state`);
- ``"dict"``: a scikit-learn class whose fitted state lives in private
  attributes (libsvm's SVC, the calibrator), rebuilt from its whole
  ``__dict__`` through ``__setstate__`` without calling ``__init__``, as
  skops does for trusted types.

A file that is not a zip, lacks an entry, fails its CRC check, has bad JSON,
names a class outside the allow-list or holds anything else is refused with a
:class:`ModelFileError` saying which.
"""

from __future__ import annotations

import io
import json
import math
import os
import platform
import re
import sys
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from sklearn.utils.validation import check_is_fitted

from skeeg import registry

__all__ = [
    "ALLOWED_CLASSES",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "ModelFileError",
    "fitted_state",
    "load_model",
    "read_model_metadata",
    "restore_fitted_state",
    "save_model",
]

#: Value of ``manifest["format"]`` in every skeeg model file.
FORMAT_NAME = "skeeg-model"
#: Version of the layout this skeeg writes; it reads this one and older ones.
FORMAT_VERSION = 1
_MANIFEST = "manifest.json"

#: The classes a model file may hold, by path, with how each is rebuilt
#: ("params" or "dict", see the module docstring): every class of
#: :mod:`skeeg.registry` but the bases.
ALLOWED_CLASSES: dict[str, str] = {
    e.path: e.rebuild for e in registry.ENTRIES if e.kind != "base"
}

# Entry names the manifest may refer to, and fitted attribute names it may
# set: public, trailing underscore (no dunders, no methods).
_ARRAY_ENTRY = re.compile(r"arrays/\d+\.npy")
_WEIGHTS_ENTRY = re.compile(r"weights/\d+\.pt")
_FITTED_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*_")
# Attribute names of a "dict" rebuild: identifiers, no dunders.
_ATTRIBUTE_NAME = re.compile(r"(?!__)[A-Za-z_][A-Za-z0-9_]*")
_TAGS = (
    "__tuple__",
    "__dict__",
    "__float__",
    "__ndarray__",
    "__objects__",
    "__weights__",
    "__estimator__",
)
_SCALARS = (type(None), bool, str, int, float)


class ModelFileError(ValueError):
    """A file is not a skeeg model file, is corrupt, or cannot be written as one."""


# -- the allow-list -----------------------------------------------------------
def _class_path(cls: type) -> str | None:
    """The allow-list key of exactly ``cls`` (subclasses are not allowed)."""
    for path in ALLOWED_CLASSES:
        # Compare names first: only a candidate's module is imported.
        if path.rpartition(".")[2] == cls.__name__ and (
            registry.by_path(path).cls is cls
        ):
            return path
    return None


def _allowed_class(path, where: str) -> type:
    if not isinstance(path, str) or path not in ALLOWED_CLASSES:
        raise ModelFileError(
            f"{where} names class {path!r}, which is not in the model-file "
            "allow-list (skeeg.model_file.ALLOWED_CLASSES); refusing to load it."
        )
    return registry.by_path(path).cls


# -- the default fitted state -------------------------------------------------
def fitted_state(estimator) -> dict:
    """The public fitted attributes of ``estimator``: what a model file keeps
    of an estimator without ``__skeeg_state__``.

    Parameters
    ----------
    estimator : BaseEstimator
        Fitted.

    Returns
    -------
    state : dict
        Its attributes whose names end in ``_`` (and do not start with one),
        minus its parameters.
    """
    params = estimator.get_params(deep=False)
    return {
        k: v
        for k, v in vars(estimator).items()
        if _FITTED_NAME.fullmatch(k) and k not in params
    }


def restore_fitted_state(estimator, state: dict) -> None:
    """Set the attributes :func:`fitted_state` gave, refusing any other name.

    Parameters
    ----------
    estimator : BaseEstimator
        Built from its parameters.
    state : dict
        Attribute names (public, ending in ``_``, not a parameter) and values.

    Raises
    ------
    ModelFileError
        If a name is not a public fitted attribute name.
    """
    params = estimator.get_params(deep=False)
    for name, value in state.items():
        if not _FITTED_NAME.fullmatch(name) or name in params:
            raise ModelFileError(f"invalid fitted attribute name {name!r}.")
        setattr(estimator, name, value)


def _is_weights(value) -> bool:
    """Whether ``value`` is a non-empty mapping of names to torch tensors (a
    ``state_dict``); torch is not imported to find out."""
    torch = sys.modules.get("torch")
    return (
        torch is not None
        and isinstance(value, Mapping)
        and len(value) > 0
        and all(isinstance(v, torch.Tensor) for v in value.values())
        and all(isinstance(k, str) for k in value)
    )


# -- writing --------------------------------------------------------------------
class _Writer:
    """Encodes values as JSON, collecting arrays and weights as zip entries."""

    def __init__(self) -> None:
        self.entries: dict[str, bytes] = {}

    def _entry_name(self, folder: str, suffix: str) -> str:
        n = sum(1 for e in self.entries if e.startswith(folder + "/"))
        return f"{folder}/{n}{suffix}"

    def _add_array(self, array: np.ndarray, where: str) -> dict:
        if array.dtype == object:
            values = array.ravel().tolist()
            if all(isinstance(v, str) for v in values):
                # Strings (e.g. classes_ from pandas labels) travel as
                # unicode and come back as the object array they were.
                return {**self._add_array(array.astype(str), where), "object": True}
            if not all(isinstance(v, _SCALARS) for v in values):
                raise ModelFileError(
                    f"{where} is an object array holding values other than "
                    "str, int, float, bool and None, which a model file cannot "
                    "hold without pickle."
                )
            # Mixed labels (e.g. stage names and -1): JSON values, in order.
            return {
                "__objects__": [self.encode(v, where) for v in values],
                "shape": list(array.shape),
            }
        name = self._entry_name("arrays", ".npy")
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        self.entries[name] = buffer.getvalue()
        return {"__ndarray__": name}

    def _add_weights(self, weights: Mapping) -> dict:
        import torch

        name = self._entry_name("weights", ".pt")
        buffer = io.BytesIO()
        torch.save({k: v.detach().cpu() for k, v in weights.items()}, buffer)
        self.entries[name] = buffer.getvalue()
        return {"__weights__": name}

    def encode(self, value, where: str):
        """``value`` as JSON; ``where`` names it in error messages."""
        from sklearn.base import BaseEstimator

        if value is None or isinstance(value, bool | str | int):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else {"__float__": repr(value)}
        if isinstance(value, np.ndarray | np.generic):
            return self._add_array(np.asarray(value), where)
        if isinstance(value, list):
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, tuple):
            return {
                "__tuple__": [
                    self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)
                ]
            }
        if _is_weights(value):
            return self._add_weights(value)
        if isinstance(value, dict):
            if not all(isinstance(k, str) for k in value):
                raise ModelFileError(f"{where} is a dict with non-string keys.")
            return {
                "__dict__": {
                    k: self.encode(v, f"{where}[{k!r}]") for k, v in value.items()
                }
            }
        if isinstance(value, BaseEstimator) or _class_path(type(value)) is not None:
            return {"__estimator__": self._estimator(value, where)}
        raise ModelFileError(
            f"{where} is {value!r} ({type(value).__name__}), which a model file "
            "cannot hold: only JSON values, numpy arrays, network weights and "
            "objects of the allow-list (skeeg.model_file.ALLOWED_CLASSES)."
        )

    def _estimator(self, estimator, where: str) -> dict:
        cls = type(estimator)
        path = _class_path(cls)
        if path is None:
            raise ModelFileError(
                f"{where} is a {cls.__module__}.{cls.__qualname__}, which is not "
                "in the model-file allow-list (skeeg.model_file.ALLOWED_CLASSES)."
            )
        if ALLOWED_CLASSES[path] == "dict":
            state = (
                estimator.__getstate__()
                if hasattr(estimator, "__getstate__")
                else vars(estimator)
            )
            return {"class": path, "dict": self.encode(dict(state), where)}
        params = estimator.get_params(deep=False)
        if params.get("accelerator") is not None:
            raise ModelFileError(
                f"{where} has an accelerator, which a model file cannot hold "
                "(it is this process's devices, not part of the model); save "
                "after set_params(accelerator=None): prediction does not use it."
            )
        state = (
            estimator.__skeeg_state__()
            if hasattr(estimator, "__skeeg_state__")
            else fitted_state(estimator)
        )
        return {
            "class": path,
            "params": {
                k: self.encode(v, f"{where}.{k}") for k, v in sorted(params.items())
            },
            "state": self.encode(state, f"{where} (fitted state)"),
        }


def _versions() -> dict:
    import sklearn
    import torch

    import skeeg

    return {
        "skeeg": skeeg.__version__,
        "torch": torch.__version__,
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def _first_step(estimator):
    """The estimator that sees the raw windows (a Pipeline's first step)."""
    from sklearn.pipeline import Pipeline

    while isinstance(estimator, Pipeline):
        estimator = estimator.steps[0][1]
    return estimator


def _check_metadata(estimator, sfreq, ch_names, window_s, training_summary) -> dict:
    first = _first_step(estimator)
    n_channels = getattr(first, "n_channels_in_", None)
    n_times = getattr(first, "n_times_in_", None)
    if sfreq is not None:
        if isinstance(sfreq, bool) or not isinstance(sfreq, int | float | np.number):
            raise TypeError(f"sfreq must be a number in Hz, got {sfreq!r}.")
        if not (math.isfinite(sfreq) and sfreq > 0):
            raise ValueError(f"sfreq must be > 0 Hz, got {sfreq!r}.")
        sfreq = float(sfreq)
    if ch_names is not None:
        ch_names = list(ch_names)
        if not all(isinstance(c, str) for c in ch_names):
            raise TypeError(f"ch_names must be a sequence of str, got {ch_names!r}.")
        if n_channels is not None and len(ch_names) != n_channels:
            raise ValueError(
                f"ch_names has {len(ch_names)} names, but the model was fitted "
                f"on {n_channels} channels (n_channels_in_={n_channels})."
            )
    if window_s is not None:
        if isinstance(window_s, bool) or not isinstance(
            window_s, int | float | np.number
        ):
            raise TypeError(f"window_s must be a number in seconds, got {window_s!r}.")
        if not (math.isfinite(window_s) and window_s > 0):
            raise ValueError(f"window_s must be > 0 s, got {window_s!r}.")
        window_s = float(window_s)
        if sfreq is not None and n_times is not None:
            if abs(window_s * sfreq - n_times) > 0.5:
                raise ValueError(
                    f"window_s={window_s} s at sfreq={sfreq} Hz is "
                    f"{window_s * sfreq:g} samples, but the model was fitted on "
                    f"windows of {n_times} samples (n_times_in_={n_times})."
                )
    if training_summary is not None:
        try:
            if not isinstance(training_summary, dict):
                raise TypeError
            json.dumps(training_summary, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                "training_summary must be a dict of JSON values (str, int, "
                f"finite float, bool, None, lists and dicts of them), got "
                f"{training_summary!r}."
            ) from exc
    classes = getattr(estimator, "classes_", None)
    return {
        "sfreq": sfreq,
        "ch_names": ch_names,
        "window_s": window_s,
        "n_channels": n_channels,
        "n_times": n_times,
        "classes": None if classes is None else np.asarray(classes).tolist(),
        "training_summary": training_summary,
    }


def save_model(
    estimator,
    path: str | os.PathLike,
    *,
    sfreq: float | None = None,
    ch_names: list[str] | None = None,
    window_s: float | None = None,
    training_summary: dict | None = None,
) -> Path:
    """Write a fitted estimator or Pipeline to a skeeg model file.

    Parameters
    ----------
    estimator : estimator or sklearn.pipeline.Pipeline
        Fitted; it and every estimator inside it (steps, loss strategies)
        must be of a class in :data:`ALLOWED_CLASSES`, with parameters that
        are JSON values, numpy arrays or such estimators.
    path : str or path-like
        The file to write (``.skeeg`` by convention); replaced atomically if
        it exists.
    sfreq : float, optional
        Sampling frequency in Hz of the windows the model takes.
    ch_names : list of str, optional
        Names of their channels, in order; as many as the model's
        ``n_channels_in_``.
    window_s : float, optional
        Window length in seconds; with ``sfreq`` it must give the model's
        ``n_times_in_`` samples.
    training_summary : dict, optional
        JSON values describing the training data (windows, positives,
        subjects, source files, cross-validated scores).

    Returns
    -------
    path : pathlib.Path
        The file written.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If ``estimator`` is not fitted.
    ModelFileError
        If something in ``estimator`` is outside the allow-list or cannot be
        held without pickle (e.g. a ``criterion`` given as a class), or if
        a deep classifier has an ``accelerator`` (save after
        ``set_params(accelerator=None)``).
    ValueError, TypeError
        If the metadata is malformed or disagrees with the fitted shapes.
    """
    check_is_fitted(estimator)
    metadata = _check_metadata(estimator, sfreq, ch_names, window_s, training_summary)
    writer = _Writer()
    tree = writer.encode(estimator, "estimator")
    if not isinstance(tree, dict) or "__estimator__" not in tree:
        raise ModelFileError(f"estimator must be an estimator, got {estimator!r}.")
    manifest = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "versions": _versions(),
        **metadata,
        "estimator": tree["__estimator__"],
    }
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent or ".", suffix=".tmp")
    try:
        with (
            os.fdopen(fd, "wb") as file,
            zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        ):
            archive.writestr(_MANIFEST, json.dumps(manifest, indent=1, allow_nan=False))
            for name, data in writer.entries.items():
                archive.writestr(name, data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# -- reading --------------------------------------------------------------------
class _Reader:
    """Decodes the manifest's JSON, reading referenced entries from the zip."""

    def __init__(self, archive: zipfile.ZipFile, source: str, device: str) -> None:
        self.archive = archive
        self.source = source
        self.device = device
        self.used: set[str] = {_MANIFEST}

    def _error(self, message: str) -> ModelFileError:
        return ModelFileError(f"{self.source}: {message}")

    def _entry(self, name, pattern: re.Pattern) -> bytes:
        if not isinstance(name, str) or not pattern.fullmatch(name):
            raise self._error(f"the manifest refers to an invalid entry {name!r}.")
        try:
            data = self.archive.read(name)
        except KeyError:
            raise self._error(
                f"entry {name!r} is missing (truncated or edited file)."
            ) from None
        self.used.add(name)
        return data

    def _array(self, spec: dict) -> np.ndarray:
        data = self._entry(spec["__ndarray__"], _ARRAY_ENTRY)
        try:
            array = np.load(io.BytesIO(data), allow_pickle=False)
        except ValueError as exc:
            raise self._error(
                f"entry {spec['__ndarray__']!r} is not a plain numpy array ({exc}); "
                "a model file never holds pickled objects."
            ) from None
        if not isinstance(array, np.ndarray):
            raise self._error(f"entry {spec['__ndarray__']!r} is not a .npy array.")
        if spec.get("object"):
            array = array.astype(object)
        return array[()] if array.ndim == 0 else array

    def _objects(self, value: dict, where: str) -> np.ndarray:
        values, shape = value["__objects__"], value.get("shape")
        if not isinstance(values, list) or not isinstance(shape, list):
            raise self._error(f"{where}: malformed __objects__ value.")
        values = [self.decode(v, where) for v in values]
        if not all(isinstance(v, _SCALARS) for v in values):
            raise self._error(f"{where}: an object array of non-scalar values.")
        array = np.empty(len(values), dtype=object)
        array[:] = values
        try:
            return array.reshape(shape)
        except (TypeError, ValueError):
            raise self._error(f"{where}: bad object array shape {shape!r}.") from None

    def _weights(self, name) -> dict:
        import pickle

        import torch

        data = self._entry(name, _WEIGHTS_ENTRY)
        try:
            weights = torch.load(
                io.BytesIO(data), weights_only=True, map_location="cpu"
            )
        except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
            raise self._error(
                f"entry {name!r} is not a weights-only torch file: "
                f"{str(exc).splitlines()[0]}"
            ) from None
        if not isinstance(weights, dict) or not all(
            isinstance(v, torch.Tensor) for v in weights.values()
        ):
            raise self._error(f"entry {name!r} is not a state_dict.")
        return weights

    def decode(self, value, where: str):
        if value is None or isinstance(value, bool | str | int | float):
            return value
        if isinstance(value, list):
            return [self.decode(v, where) for v in value]
        if not isinstance(value, dict):
            raise self._error(f"{where}: unexpected JSON value {value!r}.")
        tags = [t for t in _TAGS if t in value]
        extra = {"__ndarray__": {"object"}, "__objects__": {"shape"}}
        if len(tags) != 1 or set(value) - {tags[0], *extra.get(tags[0], ())}:
            raise self._error(f"{where}: unexpected JSON object {value!r}.")
        tag, content = tags[0], value[tags[0]]
        if tag == "__tuple__" and isinstance(content, list):
            return tuple(self.decode(v, where) for v in content)
        if tag == "__dict__" and isinstance(content, dict):
            return {k: self.decode(v, f"{where}[{k!r}]") for k, v in content.items()}
        if tag == "__float__" and content in ("nan", "inf", "-inf"):
            return float(content)
        if tag == "__ndarray__":
            return self._array(value)
        if tag == "__objects__":
            return self._objects(value, where)
        if tag == "__weights__":
            return self._weights(content)
        if tag == "__estimator__" and isinstance(content, dict):
            return self.estimator(content, where)
        raise self._error(f"{where}: malformed {tag} value {content!r}.")

    def estimator(self, node: dict, where: str):
        cls = _allowed_class(node.get("class"), f"{self.source}: {where}")
        if ALLOWED_CLASSES[node["class"]] == "dict":
            return self._from_dict(cls, node, where)
        params, state = node.get("params"), node.get("state")
        if not isinstance(params, dict) or state is None:
            raise self._error(
                f"{where}: 'params' must be a JSON object and 'state' present."
            )
        params = {k: self.decode(v, f"{where}.{k}") for k, v in params.items()}
        if params.get("memory") is not None and cls.__name__ == "Pipeline":
            # A Pipeline's memory caches fitted steps as pickles on disk.
            raise self._error(f"{where}: a Pipeline with memory is not allowed.")
        try:
            estimator = cls(**params)
        except TypeError as exc:
            raise self._error(
                f"{where}: bad parameters for {cls.__name__}: {exc}"
            ) from None
        state = self.decode(state, f"{where} (fitted state)")
        if not isinstance(state, dict):
            raise self._error(f"{where}: the fitted state is not a JSON object.")
        try:
            if hasattr(estimator, "__skeeg_restore__"):
                estimator.__skeeg_restore__(state, device=self.device)
            else:
                restore_fitted_state(estimator, state)
        except (
            ModelFileError,
            AttributeError,
            KeyError,
            TypeError,
            ValueError,
            RuntimeError,
        ) as exc:
            raise self._error(
                f"{where}: cannot restore its fitted state: "
                f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
            ) from None
        return estimator

    def _from_dict(self, cls: type, node: dict, where: str):
        state = self.decode(node.get("dict"), where)
        if not isinstance(state, dict) or not all(
            _ATTRIBUTE_NAME.fullmatch(k) for k in state
        ):
            raise self._error(f"{where}: 'dict' must map attribute names to values.")
        obj = cls.__new__(cls)
        if hasattr(obj, "__setstate__"):
            obj.__setstate__(state)
        else:
            vars(obj).update(state)
        return obj


def _open(path) -> tuple[zipfile.ZipFile, dict, str]:
    """Open, integrity-check and parse a model file; the zip stays open."""
    source = str(path)
    if not Path(path).is_file():
        raise FileNotFoundError(f"Model file not found: {source!r}.")
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ModelFileError(
            f"{source}: not a skeeg model file (not a zip archive, or truncated)."
        ) from None
    try:
        bad = archive.testzip()
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        archive.close()
        raise ModelFileError(f"{source}: corrupt or truncated file ({exc}).") from None
    if bad is not None:
        archive.close()
        raise ModelFileError(f"{source}: corrupt file: CRC check failed for {bad!r}.")
    try:
        manifest = json.loads(archive.read(_MANIFEST))
    except KeyError:
        archive.close()
        raise ModelFileError(
            f"{source}: not a skeeg model file (no {_MANIFEST})."
        ) from None
    except (UnicodeDecodeError, ValueError) as exc:
        archive.close()
        raise ModelFileError(
            f"{source}: {_MANIFEST} is not valid JSON ({exc})."
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        archive.close()
        raise ModelFileError(
            f"{source}: not a skeeg model file ({_MANIFEST} does not declare "
            f"format {FORMAT_NAME!r})."
        )
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        archive.close()
        raise ModelFileError(f"{source}: invalid format_version {version!r}.")
    if version > FORMAT_VERSION:
        archive.close()
        raise ModelFileError(
            f"{source}: written in model-file format version {version} by a newer "
            f"skeeg; this skeeg reads version {FORMAT_VERSION} and older. "
            "Upgrade skeeg."
        )
    return archive, manifest, source


_METADATA_KEYS = (
    "format_version",
    "versions",
    "sfreq",
    "ch_names",
    "window_s",
    "n_channels",
    "n_times",
    "classes",
    "training_summary",
)


def read_model_metadata(path: str | os.PathLike) -> dict:
    """The metadata of a model file, without building the model.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    metadata : dict
        ``format_version``; ``versions`` (skeeg, torch, sklearn, numpy,
        python that wrote it); ``sfreq`` (Hz), ``ch_names``, ``window_s``
        (s), as given to :func:`save_model` (None where not given);
        ``n_channels`` and ``n_times`` of the windows the model takes;
        ``classes``; ``training_summary``; ``estimator`` (the class path of
        the top-level estimator) and ``steps`` (a Pipeline's step names and
        class paths, else None).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ModelFileError
        If it is not a skeeg model file or is corrupt.
    """
    archive, manifest, source = _open(path)
    archive.close()
    node = manifest.get("estimator")
    if not isinstance(node, dict):
        raise ModelFileError(f"{source}: {_MANIFEST} has no estimator.")
    steps = None
    raw_steps = node.get("params", {}).get("steps")
    if node.get("class") == "sklearn.pipeline.Pipeline" and isinstance(raw_steps, list):
        steps = [
            (step["__tuple__"][0], step["__tuple__"][1]["__estimator__"]["class"])
            for step in raw_steps
            if isinstance(step, dict)
            and isinstance(step.get("__tuple__"), list)
            and isinstance(step["__tuple__"][1], dict)
            and "__estimator__" in step["__tuple__"][1]
        ]
    return {
        **{key: manifest.get(key) for key in _METADATA_KEYS},
        "estimator": node.get("class"),
        "steps": steps,
    }


def load_model(path: str | os.PathLike, *, device: str = "cpu"):
    """Load a fitted estimator or Pipeline from a skeeg model file.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save_model`.
    device : str, default="cpu"
        Where deep classifiers' networks go: "cpu", "cuda", "cuda:1", or
        "auto" (CUDA when present). A network trained on a GPU loads on a
        CPU-only machine: weights are read onto the CPU first.

    Returns
    -------
    estimator : estimator or sklearn.pipeline.Pipeline
        Fitted, with the saved parameters; ``predict`` and ``predict_proba``
        give what the saved model gave. Deep classifiers get a skorch
        ``net_`` trimmed for prediction (``NeuralNet.trim_for_prediction``):
        training history, optimizer and criterion state are not saved, and
        ``fit`` retrains from scratch as usual.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ModelFileError
        If it is not a skeeg model file, is corrupt or truncated (zip CRC,
        missing entries, bad JSON), names a class outside
        :data:`ALLOWED_CLASSES`, or holds an entry the manifest does not
        name (such as a pickle).

    Warns
    -----
    UserWarning
        If the skeeg, scikit-learn or torch version differs from the one that
        wrote the file.

    Notes
    -----
    Nothing in the file is unpickled: parameters and scalars are JSON, arrays
    are read with ``np.load(allow_pickle=False)``, weights with
    ``torch.load(weights_only=True, map_location="cpu")``.
    """
    from skeeg.training.net import resolve_device

    device = resolve_device(device)
    archive, manifest, source = _open(path)
    with archive:
        node = manifest.get("estimator")
        if not isinstance(node, dict):
            raise ModelFileError(f"{source}: {_MANIFEST} has no estimator.")
        reader = _Reader(archive, source, device)
        estimator = reader.estimator(node, "estimator")
        extra = sorted(set(archive.namelist()) - reader.used)
        if extra:
            raise ModelFileError(
                f"{source}: unexpected entries {extra}; a skeeg model file holds "
                f"only {_MANIFEST} and the entries it names."
            )
    saved = manifest.get("versions") or {}
    current = _versions()
    changed = [
        f"{lib} {saved.get(lib)} (now {current[lib]})"
        for lib in ("skeeg", "sklearn", "torch")
        if saved.get(lib) != current[lib]
    ]
    if changed:
        warnings.warn(
            f"{source} was written with {', '.join(changed)}; check its "
            "predictions before relying on them.",
            UserWarning,
            stacklevel=2,
        )
    return estimator
