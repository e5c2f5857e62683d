"""skralif's default network: a small skorch MLP for tabular data and small label sets."""

from __future__ import annotations

import torch
from skorch import NeuralNetClassifier

__all__ = ["MLPModule", "FrozenEncoder", "default_net", "scaled_mlp"]


class MLPModule(torch.nn.Module):
    """Multi-layer perceptron returning logits; its last layer is the RALIF head.

    Parameters
    ----------
    in_features : int, default=1
        Input width (the learner sets it from the data at fit time).
    n_classes : int, default=2
        Output width (the learner sets it from the classes at fit time).
    hidden_units : tuple of int, default=(128,)
        Widths of the hidden layers, each followed by ReLU and dropout.
    dropout : float, default=0.0
        Dropout after every hidden layer (set it > 0 for ``BALDQuery``).
    """

    def __init__(self, in_features=1, n_classes=2, hidden_units=(128,), dropout=0.0):
        super().__init__()
        layers, width = [], in_features
        for units in hidden_units:
            layers += [torch.nn.Linear(width, units), torch.nn.ReLU(), torch.nn.Dropout(dropout)]
            width = units
        self.body = torch.nn.Sequential(*layers)
        self.head = torch.nn.Linear(width, n_classes)

    def forward(self, X):
        """Logits for a batch.

        Parameters
        ----------
        X : torch.Tensor of shape (batch, ...)
            Inputs; trailing dimensions are flattened.

        Returns
        -------
        torch.Tensor of shape (batch, n_classes)
        """
        return self.head(self.body(X.reshape(len(X), -1)))


class FrozenEncoder(torch.nn.Module):
    """A pretrained encoder, frozen and shared by every copy of the net that holds it.

    Wrap a pretrained backbone in it and pass it as a module parameter
    (``NeuralNetClassifier(MyModule, module__encoder=FrozenEncoder(backbone))``):

    - its parameters get ``requires_grad=False`` and it stays in eval mode
      (batch-norm statistics and dropout are frozen too), so training the
      net trains only the rest of the module, the head;
    - its forward pass runs without autograd, so training keeps no encoder
      activations;
    - ``copy.deepcopy`` returns the same object, so ``sklearn.base.clone``
      and the learner's refits from scratch every round share the one
      encoder instead of copying its weights. Pickling (Dask workers, saving
      a learner) still writes a full copy, and so does deep-copying a
      *fitted* skorch net (skorch copies its module by serializing it): a
      learner with ``warm_start=True`` holds one extra encoder per refit
      while it trains.

    Parameters
    ----------
    encoder : torch.nn.Module
        The pretrained module; frozen in place.

    Examples
    --------
    >>> import torch
    >>> from skralif.nets import FrozenEncoder
    >>> import copy
    >>> frozen = FrozenEncoder(torch.nn.Linear(4, 2))
    >>> copy.deepcopy(frozen) is frozen, frozen.encoder.weight.requires_grad
    (True, False)
    """

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder.requires_grad_(False).eval()

    def forward(self, X):
        """The encoder's output, computed without autograd.

        Parameters
        ----------
        X : torch.Tensor
            Inputs of the encoder.

        Returns
        -------
        torch.Tensor
        """
        with torch.no_grad():
            return self.encoder(X)

    def train(self, mode=True):
        """Stay in eval mode whatever ``mode`` is asked for (the encoder is frozen).

        Parameters
        ----------
        mode : bool, default=True
            Ignored.

        Returns
        -------
        self : FrozenEncoder
        """
        return super().train(False)

    def __deepcopy__(self, memo):
        memo[id(self)] = self
        return self


def default_net(**params) -> NeuralNetClassifier:
    """The skorch net :class:`~skralif.ActiveLearningClassifier` uses when given none.

    An :class:`MLPModule` with one hidden layer of 128 units, cross-entropy on
    logits, Adam (``lr=1e-2``), 100 epochs of shuffled mini-batches of 32, no
    validation split (a few dozen labels cannot spare one) and no printing.
    Predictions and queries read 4,096 rows per forward pass
    (``iterator_valid__batch_size``): an MLP's activations are small, and
    per-pass overhead, not memory, bounds a large pool.
    Input and output widths (``module__in_features``, ``module__n_classes``)
    are set by the learner from the data at fit time; set them yourself to use
    the net on its own.

    Parameters
    ----------
    **params
        Any :class:`skorch.NeuralNetClassifier` parameter, overriding the
        defaults above (e.g. ``max_epochs=30``, ``module__dropout=0.2``).

    Returns
    -------
    net : skorch.NeuralNetClassifier
        Unfitted.

    Examples
    --------
    >>> from skralif.nets import default_net
    >>> default_net(max_epochs=10).max_epochs
    10
    """
    settings = dict(
        module=MLPModule,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=1e-2,
        max_epochs=100,
        batch_size=32,
        iterator_train__shuffle=True,
        iterator_valid__batch_size=4096,
        train_split=None,
        verbose=0,
    )
    settings.update(params)
    return NeuralNetClassifier(**settings)


def scaled_mlp(max_epochs=60, dropout=0.0):
    """The model the command line trains: a ``StandardScaler`` before a two-layer MLP.

    ``skralif run`` compares strategies with it and ``skralif query`` and
    ``skralif labelstudio sync`` label with it: :func:`default_net` with two hidden
    layers of 128 units and mini-batches of 64, behind a scaler (features on their
    own scales, as user files have them).

    Parameters
    ----------
    max_epochs : int, default=60
        Training epochs every round.
    dropout : float, default=0.0
        Dropout of the hidden layers (BALD's MC dropout needs it above 0).

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Unfitted.

    Examples
    --------
    >>> from skralif.nets import scaled_mlp
    >>> [name for name, _ in scaled_mlp().steps]
    ['standardscaler', 'neuralnetclassifier']
    """
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), default_net(
        module__hidden_units=(128, 128), module__dropout=dropout, max_epochs=max_epochs,
        batch_size=64))
