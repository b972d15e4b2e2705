"""Docstring fragments shared by several public classes (MNE-Python's ``fill_doc``).

A class docstring names a fragment as a line ``%(name)s``; :func:`fill_doc`
replaces it with the fragment, indented like that line. One text per fact keeps
the documentation of attributes set by shared code (:func:`validate_eeg`) the
same everywhere.
"""

from __future__ import annotations

import re
from typing import TypeVar

T = TypeVar("T")

docdict = {
    # Set by skeeg._validation.validate_eeg in fit.
    "eeg_fit_attributes": """\
n_features_in_ : int
    As in scikit-learn: ``n_times`` for 2-D input, ``n_channels`` for 3-D.
n_channels_in_ : int
    Channels seen in ``fit``.
n_times_in_ : int
    Time samples per window seen in ``fit``.""",
    # The training parameters of every deep classifier.
    "deep_training_params": """max_epochs : int, default=30
    Training epochs (after a loss strategy's warm-up, if any).
batch_size : int, default=64
    Windows per mini-batch (training and inference).
lr : float, default=3e-3
    Learning rate.
optimizer : {"sgd", "adam", "adamw"} or torch.optim.Optimizer class, default="adam"
    "sgd" adds momentum 0.9 and weight decay 1e-4
    (:data:`skeeg.training.recipe.OPTIMIZERS`). The defaults (Adam at 3e-3, batch 64,
    30 epochs) train to a useful model on a few hundred to a few thousand
    windows; the old ones (SGD at 0.01, batch 256, a validation fifth) left SC
    at F1 0 and AUROC 0.56 on the README demo's data (docs/estimators.md).
    The iEDeaL paper's recipe is SGD with ``lr`` in {5e-3, 1e-2, 2e-2}
    (``benchmarks/iedeal_paper_protocol.py``).
optimizer_params : dict or None, default=None
    Keyword arguments of the optimizer; they override the defaults above.
lr_schedule : {"linear", None}, default="linear"
    "linear" decays the learning rate to ``min_lr`` over ``max_epochs``.
min_lr : float, default=1e-5
    Final learning rate of the linear schedule.
grad_clip : float or None, default=1.0
    Maximum gradient norm; None disables clipping.
criterion : torch loss class or instance, default=None
    Replaces the loss strategy's loss function (its window sampling stays);
    a class is built with ``criterion_params``. Takes ``(logits, target)``.
criterion_params : dict or None, default=None
    Keyword arguments of a ``criterion`` class.
threshold : float in (0, 1) or "auto", default=0.5
    Two classes: predict ``classes_[1]`` where its probability is above the
    threshold. "auto" picks the threshold that maximises the loss strategy's
    F-beta (:attr:`skeeg.training.strategies.LossStrategy.target_beta`) on
    held-out labelled windows after training: the validation split, or,
    with ``validation_fraction=None``, a fifth of the labelled windows
    (stratified; each group on one side with ``groups``) held out from
    training for that alone. Fitted value: ``threshold_``.
validation_fraction : float or None, default=None
    Share of the labelled training windows held out to pick the epoch with
    the best validation F-beta (and to tune ``threshold="auto"``). With
    ``groups`` the split keeps each group on one side
    (:class:`~sklearn.model_selection.StratifiedGroupKFold`). None trains on
    everything and keeps the last epoch: with few positive windows a
    validation fifth holds too few of them to pick an epoch (on the README
    demo's data, ~9 per fold: AUPRC 0.57 with 0.2, 0.77 with None).
patience : int or None, default=None
    Early stopping after this many epochs without a better validation
    F-beta; None never stops early.
random_state : int, RandomState or None, default=None
    Seeds weight initialisation, dropout, shuffling and window sampling; an
    int makes CPU training reproducible at the same thread count (see
    ``n_threads``).
device : str, default="auto"
    "auto" picks CUDA when present, else CPU; or any torch device string.
    Must stay "auto" with an ``accelerator``, which places the model.
%(n_threads)s
precision : {"float32", "bf16"}, default="float32"
    "bf16" runs forward passes (training, validation and inference) under
    ``torch.autocast`` to bfloat16, on CPU or CUDA; the loss is computed in
    float32 and the weights stay float32. Faster on GPUs with bf16 units
    (Ampere and later); on a CPU it checks the path rather than speeds it.
loader_params : dict or None, default=None
    Extra :class:`torch.utils.data.DataLoader` arguments of the training
    and validation iterators, e.g. ``{"num_workers": 2, "pin_memory":
    True}``. skeeg sets ``batch_size``, ``shuffle``, ``sampler``,
    ``batch_sampler``, ``collate_fn`` and ``dataset`` itself. None keeps
    DataLoader's defaults (no workers, no pinned memory, also on CUDA; see
    docs/estimators.md). Inference slices the in-memory windows directly.
accelerator : accelerate.Accelerator or None, default=None
    Train through Hugging Face accelerate (skorch's ``AccelerateMixin``):
    launched with ``accelerate launch --multi_gpu``, data-parallel on
    several GPUs. The accelerator's ``mixed_precision`` applies on top of
    ``precision``. Shared, not copied, by ``sklearn.base.clone``; fit calls
    its ``free_memory()`` at the end. A model file cannot hold it: save
    after ``set_params(accelerator=None)``. Needs ``skeeg[scale]``.
verbose : int, default=0
    1 prints a line per epoch, 2 adds a progress bar.""",
    # One entry of deep_training_params, also documented alone (SMATE).
    "n_threads": """n_threads : int, "auto" or None, default=None
    CPU threads of torch (and of the OpenMP and BLAS pools) during ``fit``
    and inference; the caller's setting is restored after each call. "auto"
    takes the cores that no other process keeps busy, at least 1 and at
    most what the caller allows (the CPUs this process may use,
    ``torch.get_num_threads()``, threadpoolctl and joblib limits): on an
    idle machine the caller's setting, beside busy processes fewer threads,
    which then run faster than torch's own count
    (:mod:`skeeg.training.threads`, docs/performance.md). None (the default,
    until "auto" is checked on a full test run) leaves the caller's
    setting. The thread count changes the last bits of a CPU model (the
    order of sums): for results identical across machine loads, give an
    int.""",
    "deep_fit_attributes": """classes_ : ndarray of shape (n_classes,)
    Labels seen in ``fit`` (``-1`` excluded where it means unlabelled).
threshold_ : float
    Decision threshold on the probability of ``classes_[1]``.
net_ : skorch.NeuralNet
    The fitted net; ``net_.history`` holds the per-epoch log.
device_ : str
    Device the net was trained on.""",
}

_PLACEHOLDER = re.compile(r"^([ \t]*)%\((\w+)\)s$", re.MULTILINE)


def fill_doc(obj: T) -> T:
    """Replace each ``%(name)s`` line of ``obj.__doc__`` with ``docdict[name]``
    (whose own ``%(name)s`` lines are replaced in turn).

    Raises ``KeyError`` naming an unknown fragment, at import time.
    """

    def fill(match: re.Match) -> str:
        indent, name = match.groups()
        if name not in docdict:
            raise KeyError(f"{obj.__qualname__} uses unknown fragment %({name})s.")
        # A fragment may name other fragments on lines of their own.
        text = _PLACEHOLDER.sub(fill, docdict[name])
        return "\n".join(indent + line if line else line for line in text.splitlines())

    if obj.__doc__:
        obj.__doc__ = _PLACEHOLDER.sub(fill, obj.__doc__)
    return obj
