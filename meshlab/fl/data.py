"""Federated data sets: non-IID partitions into fixed-shape padded client arrays.

Every client holds the same number of slots (``capacity``); a boolean mask marks the
slots that hold a real sample, so all clients can be trained in one ``vmap``. Samples
are packed at the front of each client's slots (slot ``j`` is valid iff ``j < count``).

Two sources:

* :func:`load_digits_federated`: scikit-learn's bundled 8x8 digits (1,797 samples,
  64 features, 10 classes; shipped with the package, no download), split across clients
  with a Dirichlet(alpha) label partition (Hsu et al. 2019, "Measuring the effects of
  non-identical data distribution"): for every class ``k`` the class's samples are
  divided among the clients in proportions ``p_k ~ Dirichlet(alpha * 1_C)``. Small
  ``alpha`` gives each client few classes; large ``alpha`` tends to IID.
* :func:`synthetic_federated`: a generated data set that scales to 10,000+ clients, in
  the spirit of Synthetic(alpha, beta) of Li et al. 2020 (FedProx), but with a shared
  global linear model ``W`` that every client perturbs (so one global model is a
  meaningful target): client ``c`` labels its points with ``W + model_heterogeneity *
  N(0, 1)`` and draws features around its own centre ``v_c ~ N(B_c, 1)``, ``B_c ~
  N(0, feature_heterogeneity)``.

:func:`flip_labels` is the data-space label-flipping attack (Byzantine clients train on
``n_classes - 1 - y``); :func:`choose_byzantine` draws the Byzantine client set.
"""

from __future__ import annotations

import warnings
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from meshlab.core.validation import check_bool, check_int, check_key, check_real

__all__ = [
    "FederatedData",
    "choose_byzantine",
    "client_label_counts",
    "dirichlet_partition",
    "flip_labels",
    "label_skew",
    "load_digits_federated",
    "pad_clients",
    "synthetic_federated",
]


class FederatedData(NamedTuple):
    """Client-partitioned training data plus a global test set (a pytree of arrays).

    Attributes:
        x: ``f32[clients, capacity, features]`` client samples (zeros in padding).
        y: ``i32[clients, capacity]`` labels (0 in padding).
        mask: ``bool[clients, capacity]`` True where the slot holds a real sample.
        index: ``i32[clients, capacity]`` index of the sample in the source data set
            (-1 in padding); lets tests check that every sample is assigned once.
        x_test: ``f32[n_test, features]`` held-out test features.
        y_test: ``i32[n_test]`` held-out test labels.
    """

    x: Float[Array, "clients capacity features"]
    y: Int[Array, "clients capacity"]
    mask: Bool[Array, "clients capacity"]
    index: Int[Array, "clients capacity"]
    x_test: Float[Array, "n_test features"]
    y_test: Int[Array, " n_test"]

    @property
    def n_clients(self) -> int:
        return self.x.shape[0]

    @property
    def capacity(self) -> int:
        return self.x.shape[1]

    @property
    def n_features(self) -> int:
        return self.x.shape[2]

    @property
    def counts(self) -> Int[Array, " clients"]:
        """Number of real samples per client."""
        return self.mask.sum(axis=1)


def dirichlet_partition(
    key: jax.Array,
    labels: Int[Array, " n"],
    n_clients: int,
    alpha: float,
    n_classes: int,
) -> Int[Array, " n"]:
    """Assigns every sample to one client with a per-class Dirichlet(alpha) split.

    For every class ``k``, proportions ``p_k ~ Dirichlet(alpha * 1_C)`` over the ``C``
    clients are drawn, the class's samples are shuffled, and consecutive blocks of sizes
    ``round(cumsum(p_k) * n_k)`` go to clients ``0..C-1``. Each sample lands in exactly
    one client; the expected share of class ``k`` held by a client is ``1/C`` with
    variance ``(C - 1) / (C^2 (C alpha + 1))``.

    Args:
        key: typed PRNG key.
        labels: ``i32[n]`` class labels in ``[0, n_classes)``.
        n_clients: number of clients ``C``.
        alpha: Dirichlet concentration, > 0 (small = skewed, large = IID).
        n_classes: number of classes ``K``.

    Returns:
        ``i32[n]`` client id of every sample.
    """
    check_key(key)
    check_int("n_clients", n_clients, low=1)
    check_int("n_classes", n_classes, low=1)
    check_real("alpha", alpha, 0.0, low_open=True)
    labels = jnp.asarray(labels)
    if labels.ndim != 1 or not jnp.issubdtype(labels.dtype, jnp.integer):
        raise ValueError(
            f"labels must be a 1-D integer array, got shape {labels.shape}, dtype {labels.dtype}"
        )
    return _dirichlet_partition(key, labels, jnp.float32(alpha), n_clients, n_classes)


@partial(jax.jit, static_argnums=(3, 4))
def _dirichlet_partition(key, labels, alpha, n_clients, n_classes):
    n = labels.shape[0]
    k_shuffle, k_dir = jax.random.split(key)
    p = jax.random.dirichlet(k_dir, jnp.full((n_clients,), alpha, jnp.float32), (n_classes,))
    counts = jnp.bincount(labels, length=n_classes)  # [K]
    starts = jnp.cumsum(counts) - counts
    bounds = jnp.round(jnp.cumsum(p, axis=1) * counts[:, None].astype(jnp.float32)).astype(
        jnp.int32
    )
    bounds = bounds.at[:, -1].set(counts)  # the last client closes every class exactly
    flat_bounds = (starts[:, None] + bounds).reshape(-1)  # non-decreasing over (class, client)
    # sort by class, random order within each class
    order = jnp.lexsort((jax.random.uniform(k_shuffle, (n,)), labels))
    pos = jnp.arange(n)
    sorted_labels = labels[order]
    client_sorted = jnp.searchsorted(flat_bounds, pos, side="right") - sorted_labels * n_clients
    return jnp.zeros(n, jnp.int32).at[order].set(client_sorted.astype(jnp.int32))


def pad_clients(
    x: Float[Array, "n features"],
    y: Int[Array, " n"],
    client_of: Int[Array, " n"],
    n_clients: int,
    capacity: int | None = None,
) -> tuple[Float[Array, "C M F"], Int[Array, "C M"], Bool[Array, "C M"], Int[Array, "C M"]]:
    """Packs samples into fixed-shape ``[clients, capacity]`` slots.

    Args:
        x: ``f32[n, F]`` features.
        y: ``i32[n]`` labels.
        client_of: ``i32[n]`` client id per sample (from :func:`dirichlet_partition`).
        n_clients: number of clients.
        capacity: slots per client; ``None`` uses the largest client (nothing dropped).
            A smaller capacity drops each client's surplus samples.

    Returns:
        ``(x_pad, y_pad, mask, index)`` as in :class:`FederatedData`.
    """
    check_int("n_clients", n_clients, low=1)
    x, y, client_of = jnp.asarray(x), jnp.asarray(y), jnp.asarray(client_of)
    if x.ndim != 2 or y.shape != (x.shape[0],) or client_of.shape != (x.shape[0],):
        raise ValueError(
            f"x must be [n, F] with y and client_of [n]; got x {x.shape}, y {y.shape},"
            f" client_of {client_of.shape}"
        )
    counts = np.bincount(np.asarray(client_of), minlength=n_clients)
    if len(counts) > n_clients or np.asarray(client_of).min(initial=0) < 0:
        raise ValueError(f"client_of must lie in [0, n_clients={n_clients})")
    if capacity is None:
        capacity = max(int(counts.max(initial=0)), 1)
    check_int("capacity", capacity, low=1)
    return _pad(x, y, client_of, n_clients, capacity)


@partial(jax.jit, static_argnums=(3, 4))
def _pad(x, y, client_of, n_clients, capacity):
    n = x.shape[0]
    order = jnp.argsort(client_of, stable=True)
    c_sorted = client_of[order]
    counts = jnp.bincount(client_of, length=n_clients)
    starts = jnp.cumsum(counts) - counts
    slot = jnp.arange(n) - starts[c_sorted]  # >= capacity: dropped by mode="drop"
    x_pad = jnp.zeros((n_clients, capacity, x.shape[1]), jnp.float32)
    x_pad = x_pad.at[c_sorted, slot].set(x[order].astype(jnp.float32), mode="drop")
    y_pad = (
        jnp.zeros((n_clients, capacity), jnp.int32).at[c_sorted, slot].set(y[order], mode="drop")
    )
    mask = jnp.zeros((n_clients, capacity), bool).at[c_sorted, slot].set(True, mode="drop")
    index = jnp.full((n_clients, capacity), -1, jnp.int32)
    index = index.at[c_sorted, slot].set(order.astype(jnp.int32), mode="drop")
    return x_pad, y_pad, mask, index


def load_digits_federated(
    key: jax.Array,
    n_clients: int,
    alpha: float,
    *,
    test_fraction: float = 0.2,
    capacity: int | None = None,
    allow_empty_clients: bool = False,
) -> FederatedData:
    """scikit-learn's bundled digits, split non-IID across clients (Dirichlet(alpha)).

    Features are scaled to [0, 1] (pixel / 16). A random ``test_fraction`` of the 1,797
    samples is held out as the global test set; the rest is partitioned. Needs
    scikit-learn (the ``fl-data`` extra), imported only here.

    A client left without samples (more clients than training samples, or a very small
    ``alpha``) is refused unless ``allow_empty_clients=True``; then a warning says how
    many are empty (their updates are then whatever the orchestrator makes of no data).

    Args:
        key: typed PRNG key (split into the test split and the partition).
        n_clients: number of clients.
        alpha: Dirichlet concentration, > 0.
        test_fraction: held-out share in (0, 1).
        capacity: slots per client (``None``: the largest client).
        allow_empty_clients: accept (with a warning) clients that get no sample.

    Returns:
        :class:`FederatedData` with 64 features and 10 classes.

    Raises:
        ValueError: bad arguments, or empty clients without ``allow_empty_clients``.
        ImportError: scikit-learn is not installed (``pip install 'meshlab[fl-data]'``).
    """
    check_key(key)
    check_int("n_clients", n_clients, low=1)
    check_real("alpha", alpha, 0.0, low_open=True)
    check_real("test_fraction", test_fraction, 0.0, 1.0, low_open=True, high_open=True)
    check_bool("allow_empty_clients", allow_empty_clients)
    n_train = _DIGITS_SAMPLES - int(round(test_fraction * _DIGITS_SAMPLES))
    if n_clients > n_train and not allow_empty_clients:
        raise ValueError(
            f"n_clients={n_clients} exceeds the {n_train} training samples of the digits "
            "set: some clients would be empty; use fewer clients, or pass "
            "allow_empty_clients=True"
        )
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise ImportError(
            "load_digits_federated needs scikit-learn: pip install 'meshlab[fl-data]'"
        ) from e

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int32)
    n = x.shape[0]
    k_split, k_part = jax.random.split(key)
    perm = np.asarray(jax.random.permutation(k_split, n))
    n_test = int(round(test_fraction * n))
    test_idx, train_idx = perm[:n_test], perm[n_test:]
    client_of = dirichlet_partition(k_part, jnp.asarray(y[train_idx]), n_clients, alpha, 10)
    x_pad, y_pad, mask, index = pad_clients(
        x[train_idx], y[train_idx], client_of, n_clients, capacity
    )
    index = np.where(np.asarray(mask), train_idx[np.maximum(np.asarray(index), 0)], -1)
    _check_empty(np.asarray(mask).sum(axis=1), allow_empty_clients, f"alpha={alpha}")
    return FederatedData(
        x_pad,
        y_pad,
        mask,
        jnp.asarray(index, jnp.int32),
        jnp.asarray(x[test_idx]),
        jnp.asarray(y[test_idx]),
    )


_DIGITS_SAMPLES = 1797


def _check_empty(counts: np.ndarray, allow: bool, how: str) -> None:
    """Refuses (or, when allowed, warns about) clients that hold no sample."""
    empty = int((counts == 0).sum())
    if not empty:
        return
    msg = (
        f"{empty} of {counts.size} clients got no sample ({how}, "
        f"{int(counts.sum())} samples in all)"
    )
    if not allow:
        raise ValueError(
            f"{msg}; use fewer clients or a larger alpha, or pass allow_empty_clients=True"
        )
    warnings.warn(f"{msg}: their updates carry no data", UserWarning, stacklevel=3)


def synthetic_federated(
    key: jax.Array,
    n_clients: int,
    *,
    samples_per_client: int = 32,
    n_features: int = 20,
    n_classes: int = 10,
    model_heterogeneity: float = 0.5,
    feature_heterogeneity: float = 0.5,
    n_test: int = 2000,
) -> FederatedData:
    """A synthetic federated classification set that scales to 10,000+ clients.

    Global model ``W ~ N(0, 1)^{K x F}``, ``b ~ N(0, 1)^K``. Client ``c``: labelling model
    ``W_c = W + model_heterogeneity * N(0, 1)``; centre ``v_c ~ N(B_c, 1)`` with
    ``B_c ~ N(0, feature_heterogeneity)``; features ``x ~ N(v_c, diag(j^-1.2))``
    (``j = 1..F``, as in FedProx); labels ``argmax(W_c x + b)``. Client sizes vary:
    ``count_c = clip(round(samples_per_client * exp(N(0, 0.5^2) - 0.125)), 1, 2 *
    samples_per_client)`` in a ``capacity = 2 * samples_per_client`` array. The test
    set uses the global model on points drawn around random client centres.

    Memory is ``clients * 2 * samples_per_client * n_features`` floats (10,000 clients x
    64 slots x 20 features = 51 MB).

    Args:
        key: typed PRNG key.
        n_clients: number of clients.
        samples_per_client: median client size.
        n_features: feature dimension ``F``.
        n_classes: number of classes ``K`` (>= 2).
        model_heterogeneity: scale of the per-client model perturbation (>= 0).
        feature_heterogeneity: variance of the client centres' means (>= 0).
        n_test: number of global test samples.

    Returns:
        :class:`FederatedData` (``index`` numbers the generated samples).
    """
    check_key(key)
    check_int("n_clients", n_clients, low=1)
    check_int("samples_per_client", samples_per_client, low=1)
    check_int("n_features", n_features, low=1)
    check_int("n_classes", n_classes, low=2)
    check_int("n_test", n_test, low=1)
    for name, v in (
        ("model_heterogeneity", model_heterogeneity),
        ("feature_heterogeneity", feature_heterogeneity),
    ):
        check_real(name, v, 0.0)
    return _synthetic(
        key, n_clients, samples_per_client, n_features, n_classes,
        float(model_heterogeneity), float(feature_heterogeneity), n_test,
    )  # fmt: skip


@partial(jax.jit, static_argnums=(1, 2, 3, 4, 5, 6, 7))
def _synthetic(key, n_clients, spc, n_features, n_classes, model_het, feat_het, n_test):
    ks = jax.random.split(key, 9)
    cap = 2 * spc
    w = jax.random.normal(ks[0], (n_classes, n_features))
    b = jax.random.normal(ks[1], (n_classes,))
    w_c = w + model_het * jax.random.normal(ks[2], (n_clients, n_classes, n_features))
    big_b = jnp.sqrt(feat_het) * jax.random.normal(ks[3], (n_clients, 1))
    centre = big_b + jax.random.normal(ks[4], (n_clients, n_features))
    scale = jnp.arange(1, n_features + 1, dtype=jnp.float32) ** -0.6  # sd = sqrt(j^-1.2)
    x = centre[:, None, :] + scale * jax.random.normal(ks[5], (n_clients, cap, n_features))
    y = jnp.argmax(jnp.einsum("ckf,cmf->cmk", w_c, x) + b, axis=-1).astype(jnp.int32)
    size = jnp.round(spc * jnp.exp(0.5 * jax.random.normal(ks[6], (n_clients,)) - 0.125))
    count = jnp.clip(size, 1, cap).astype(jnp.int32)
    mask = jnp.arange(cap)[None, :] < count[:, None]
    index = jnp.where(mask, jnp.arange(n_clients * cap).reshape(n_clients, cap), -1)
    x = jnp.where(mask[..., None], x, 0.0)
    y = jnp.where(mask, y, 0)
    who = jax.random.randint(ks[7], (n_test,), 0, n_clients)
    x_test = centre[who] + scale * jax.random.normal(ks[8], (n_test, n_features))
    y_test = jnp.argmax(x_test @ w.T + b, axis=-1).astype(jnp.int32)
    return FederatedData(x, y, mask, index.astype(jnp.int32), x_test, y_test)


def flip_labels(
    y: Int[Array, "clients capacity"],
    byzantine: Bool[Array, " clients"],
    n_classes: int,
) -> Int[Array, "clients capacity"]:
    """Label-flipping attack: Byzantine clients relabel every sample ``y -> K - 1 - y``.

    Args:
        y: ``i32[clients, capacity]`` labels.
        byzantine: ``bool[clients]`` attacker mask (may be traced).
        n_classes: number of classes ``K``.

    Returns:
        ``i32[clients, capacity]`` poisoned labels (honest clients unchanged).
    """
    check_int("n_classes", n_classes, low=2)
    if y.ndim != 2 or byzantine.shape != (y.shape[0],):
        raise ValueError(
            f"y must be [clients, capacity] and byzantine [clients]; got {y.shape}, {byzantine.shape}"
        )
    return jnp.where(byzantine[:, None], n_classes - 1 - y, y)


def choose_byzantine(key: jax.Array, n_clients: int, n_byzantine) -> Bool[Array, " clients"]:
    """A uniformly random set of exactly ``n_byzantine`` clients.

    Args:
        key: typed PRNG key.
        n_clients: number of clients.
        n_byzantine: number of attackers in ``[0, n_clients]`` (int or traced int, so a
            sweep over attacker counts can be vmapped).

    Returns:
        ``bool[clients]`` attacker mask.
    """
    check_key(key)
    check_int("n_clients", n_clients, low=1)
    if isinstance(n_byzantine, int | np.integer) and not 0 <= n_byzantine <= n_clients:
        raise ValueError(f"n_byzantine must lie in [0, n_clients={n_clients}], got {n_byzantine}")
    return _choose(key, jnp.asarray(n_byzantine, jnp.int32), n_clients)


@partial(jax.jit, static_argnums=2)
def _choose(key, n_byzantine, n_clients):
    rank = jnp.argsort(jnp.argsort(jax.random.uniform(key, (n_clients,))))
    return rank < n_byzantine


def client_label_counts(data: FederatedData, n_classes: int) -> Int[Array, "clients classes"]:
    """``i32[clients, classes]`` number of samples of each class held by each client."""
    onehot = jax.nn.one_hot(data.y, n_classes, dtype=jnp.int32) * data.mask[..., None].astype(
        jnp.int32
    )
    return onehot.sum(axis=1)


def label_skew(data: FederatedData, n_classes: int) -> Float[Array, ""]:
    """Mean total-variation distance between client label distributions and the global one.

    0 for a perfectly IID split, towards ``1 - 1/K`` when each client holds one class.
    Clients without samples are ignored.
    """
    counts = client_label_counts(data, n_classes).astype(jnp.float32)
    n_c = counts.sum(axis=1)
    global_p = counts.sum(axis=0) / counts.sum()
    p_c = counts / jnp.maximum(n_c, 1.0)[:, None]
    tv = 0.5 * jnp.abs(p_c - global_p).sum(axis=1)
    has = n_c > 0
    return jnp.where(has, tv, 0.0).sum() / jnp.maximum(has.sum(), 1).astype(jnp.float32)
