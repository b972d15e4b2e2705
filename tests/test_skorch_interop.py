"""skeeg losses as the criterion of plain skorch nets, predict included."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score, roc_auc_score
from skorch import NeuralNet, NeuralNetBinaryClassifier

from skeeg.training.curriculum import EpochCurriculum, sufficient_negatives
from skeeg.training.losses import (
    BCELoss,
    FocalLoss,
    SaSuLoss,
    WarmupLoss,
    WeightedBCELoss,
    sigmoid_proba,
)

N_SAMPLES = 400
PREVALENCE = 0.1
WARMUP_EPOCHS = 2
MAX_EPOCHS = 25


def _toy_data(seed=0):
    """Two well separated Gaussian clusters, 10 % positives; float32 X and y."""
    rng = np.random.default_rng(seed)
    y = np.zeros(N_SAMPLES, dtype=np.float32)
    y[: int(PREVALENCE * N_SAMPLES)] = 1
    rng.shuffle(y)
    X = rng.normal(size=(N_SAMPLES, 2)) + 3.0 * y[:, None]
    return X.astype(np.float32), y


X_TOY, Y_TOY = _toy_data()
N_POS = int((Y_TOY == 1).sum())
N_NEG = int((Y_TOY == 0).sum())


class _Linear(torch.nn.Module):
    """A logistic-regression module, started pointing the wrong way.

    The initial weights rank the negatives above the positives (ROC AUC near
    0), so a high AUC after fit can only come from training through the loss.
    """

    def __init__(self, out_shape="flat"):
        super().__init__()
        self.out_shape = out_shape
        self.linear = torch.nn.Linear(2, 1)
        with torch.no_grad():
            self.linear.weight.fill_(-1.0)
            self.linear.bias.zero_()

    def forward(self, X):
        z = self.linear(X)
        return z.squeeze(1) if self.out_shape == "flat" else z


CRITERIA = {
    "bce": (BCELoss, {}),
    "wbce": (WeightedBCELoss, {"n_pos": N_POS, "n_neg": N_NEG}),
    "focal": (FocalLoss, {"gamma": 2.0}),
    "sasu": (
        SaSuLoss,
        {
            "n_pos": N_POS,
            "n_neg": N_NEG,
            "n_neg_sampled": sufficient_negatives(N_NEG),
        },
    ),
    "warmup_sasu": (
        WarmupLoss,
        {
            "loss": SaSuLoss(
                n_pos=N_POS,
                n_neg=N_NEG,
                n_neg_sampled=sufficient_negatives(N_NEG),
            ),
            "warmup_epochs": WARMUP_EPOCHS,
        },
    ),
}


def _net(criterion, criterion_kwargs, out_shape="flat", **kwargs):
    params = {f"criterion__{k}": v for k, v in criterion_kwargs.items()}
    params.update(
        module=_Linear,
        module__out_shape=out_shape,
        criterion=criterion,
        optimizer=torch.optim.Adam,
        lr=0.05,
        batch_size=64,
        max_epochs=MAX_EPOCHS,
        train_split=None,
        callbacks=[EpochCurriculum()],
        verbose=0,
    )
    params.update(kwargs)
    return NeuralNetBinaryClassifier(**params)


@pytest.fixture(scope="module", params=sorted(CRITERIA))
def fitted(request):
    criterion, criterion_kwargs = CRITERIA[request.param]
    torch.manual_seed(0)
    net = _net(criterion, criterion_kwargs, predict_nonlinearity=sigmoid_proba)
    net.fit(X_TOY, Y_TOY)
    return request.param, net


def test_criterion_is_the_skeeg_loss(fitted):
    name, net = fitted
    assert isinstance(net.criterion_, CRITERIA[name][0])
    if name == "warmup_sasu":
        # EpochCurriculum moved the wrapper past its warm-up epochs to SaSu.
        assert net.criterion_.epoch == MAX_EPOCHS - 1
        assert not net.criterion_.in_warmup
        assert isinstance(net.criterion_.loss, SaSuLoss)
    losses = net.history[:, "train_loss"]
    assert len(losses) == MAX_EPOCHS
    assert np.all(np.isfinite(losses))


def test_predict_proba_is_two_column_probabilities(fitted):
    _, net = fitted
    proba = net.predict_proba(X_TOY)
    assert proba.shape == (N_SAMPLES, 2)
    assert np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-6)
    logits = net.forward(X_TOY).numpy()
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-logits)), atol=1e-6)


def test_predict_matches_threshold(fitted):
    _, net = fitted
    pred = net.predict(X_TOY)
    assert pred.shape == (N_SAMPLES,)
    assert set(np.unique(pred)) <= {0, 1}
    expected = (net.predict_proba(X_TOY)[:, 1] > net.threshold).astype(pred.dtype)
    np.testing.assert_array_equal(pred, expected)


def test_net_separates_the_easy_task(fitted):
    _, net = fitted
    auc = roc_auc_score(Y_TOY, net.predict_proba(X_TOY)[:, 1])
    assert auc > 0.9
    # F1 of always predicting "positive" is the baseline to beat.
    baseline = 2 * PREVALENCE / (1 + PREVALENCE)
    assert f1_score(Y_TOY, net.predict(X_TOY)) > baseline + 0.3


def test_pickle_round_trip(fitted):
    _, net = fitted
    clone = pickle.loads(pickle.dumps(net))
    assert clone.predict_nonlinearity is sigmoid_proba
    np.testing.assert_array_equal(clone.predict_proba(X_TOY), net.predict_proba(X_TOY))
    np.testing.assert_array_equal(clone.predict(X_TOY), net.predict(X_TOY))


def test_without_predict_nonlinearity_skorch_fails():
    """Why sigmoid_proba exists: skorch leaves a SaSu net's logits as they are."""
    criterion, criterion_kwargs = CRITERIA["sasu"]
    torch.manual_seed(0)
    net = _net(criterion, criterion_kwargs, max_epochs=2).fit(X_TOY, Y_TOY)
    proba = net.predict_proba(X_TOY)
    assert proba.shape == (N_SAMPLES,)  # raw 1-D logits, not (n, 2)
    np.testing.assert_allclose(proba, net.forward(X_TOY).numpy())
    with pytest.raises(IndexError):
        net.predict(X_TOY)


def test_plain_neural_net_with_column_logits():
    """NeuralNet keeps a (batch, 1) output; sigmoid_proba still gives (n, 2)."""
    torch.manual_seed(0)
    net = NeuralNet(
        _Linear,
        module__out_shape="column",
        criterion=SaSuLoss,
        criterion__n_pos=N_POS,
        criterion__n_neg=N_NEG,
        optimizer=torch.optim.Adam,
        lr=0.05,
        batch_size=64,
        max_epochs=MAX_EPOCHS,
        train_split=None,
        predict_nonlinearity=sigmoid_proba,
        verbose=0,
    ).fit(X_TOY, Y_TOY)
    assert net.forward(X_TOY).shape == (N_SAMPLES, 1)
    proba = net.predict_proba(X_TOY)
    assert proba.shape == (N_SAMPLES, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-6)
    assert roc_auc_score(Y_TOY, proba[:, 1]) > 0.9


@pytest.mark.parametrize("shape", [(5,), (5, 1)])
def test_sigmoid_proba_values(shape):
    logits = torch.tensor([-100.0, -2.0, 0.0, 1.5, 100.0]).reshape(shape)
    proba = sigmoid_proba(logits)
    assert proba.shape == (5, 2)
    assert proba.dtype == logits.dtype
    p = torch.sigmoid(logits.reshape(-1))
    torch.testing.assert_close(proba[:, 1], p)
    torch.testing.assert_close(proba[:, 0], 1 - p)


@pytest.mark.parametrize(
    "logits",
    [torch.zeros(4, 2), torch.zeros(2, 2, 1), torch.zeros(()), torch.zeros(3).long()],
)
def test_sigmoid_proba_rejects_bad_logits(logits):
    with pytest.raises(ValueError, match="logits"):
        sigmoid_proba(logits)
