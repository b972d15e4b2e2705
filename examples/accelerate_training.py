"""Train an SC network through Hugging Face accelerate: one CPU process, or
data-parallel on several GPUs.

Synthetic IED windows (``skeeg.datasets.make_ied_dataset`` on the bundled
sample: 10 subjects, 5 bipolar derivations, 1.5-s windows at 500 Hz) train
an ``SCClassifier`` given an ``accelerate.Accelerator``. skorch's
``AccelerateMixin`` prepares the network, the optimizer and the data loaders;
under ``accelerate launch`` every process trains on its shard of each
epoch's batches and DistributedDataParallel averages the gradients. The
estimator is an ordinary scikit-learn classifier otherwise: after ``fit``
every process holds the same weights, and the main process prints the AUPRC
on two held-out subjects.

One CPU process (what ``tests/test_accelerators.py`` runs, with tiny
settings)::

    python examples/accelerate_training.py --cpu

Two CPU processes, data-parallel over gloo (what the suite also runs)::

    torchrun --standalone --nproc_per_node 2 examples/accelerate_training.py --cpu

N GPUs of one machine, forward passes in bfloat16::

    accelerate launch --multi_gpu --num_processes N \\
        examples/accelerate_training.py --precision bf16

``batch_size`` is per process: N GPUs train on N batches per step.
"""

from __future__ import annotations

import argparse

import numpy as np
from accelerate import Accelerator
from sklearn.metrics import average_precision_score
from sklearn.model_selection import GroupShuffleSplit

from skeeg import SCClassifier
from skeeg.datasets import make_ied_dataset


def main(argv: list[str] | None = None) -> float:
    """Run the example; returns the held-out AUPRC."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="train on the CPU")
    parser.add_argument("--n-windows", type=int, default=400)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--precision", choices=("float32", "bf16"), default="float32")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    accelerator = Accelerator(cpu=args.cpu)
    data = make_ied_dataset(
        n_windows=args.n_windows, prevalence=0.2, random_state=args.seed
    )
    split = GroupShuffleSplit(n_splits=1, test_size=2, random_state=args.seed)
    train, test = next(split.split(data.X, data.y, data.groups))
    clf = SCClassifier(
        width=args.width,
        max_epochs=args.epochs,
        precision=args.precision,
        accelerator=accelerator,
        # The same seed on every process: the same initial weights, split and
        # shuffling (skeeg also broadcasts the main process's seed).
        random_state=args.seed,
    )
    clf.fit(data.X[train], data.y[train])
    auprc = average_precision_score(data.y[test], clf.predict_proba(data.X[test])[:, 1])
    accelerator.print(
        f"SCClassifier on {accelerator.num_processes} process(es), "
        f"{accelerator.device}, precision={args.precision}: held-out AUPRC "
        f"{auprc:.3f} (prevalence {np.mean(data.y[test]):.3f})"
    )
    return float(auprc)


if __name__ == "__main__":
    main()
