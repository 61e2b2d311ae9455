"""Models as pure functions of a flat parameter vector, and vmapped local training.

A :class:`Model` works on a flat ``f32[d]`` parameter vector (what the aggregators
consume); ``unravel`` gives the named pytree view. Local training is ``steps`` plain
SGD steps on minibatches drawn with replacement from the client's valid samples; one
:func:`local_updates` call trains every client in a single ``vmap`` and returns the
model deltas ``f32[clients, d]`` (new local parameters minus the global ones).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero
from jaxtyping import Array, Bool, Float, Int

from meshlab.core.validation import check_choice, check_int

MODEL_KINDS = ("logistic_regression", "mlp")


@dataclass(frozen=True)
class ModelSpec:
    """A model as hashable data: its kind and dimensions (a static config field).

    Attributes:
        kind: one of :data:`MODEL_KINDS`.
        n_features: input dimension ``F`` (>= 1).
        n_classes: number of classes ``K`` (>= 1).
        hidden: hidden units ``H`` of the ``"mlp"`` (ignored by logistic regression).
    """

    kind: str
    n_features: int
    n_classes: int
    hidden: int = 32

    def __post_init__(self):
        check_choice("kind", self.kind, MODEL_KINDS)
        for name in ("n_features", "n_classes", "hidden"):
            object.__setattr__(self, name, check_int(name, getattr(self, name), low=1))
        if self.kind == "logistic_regression":
            object.__setattr__(self, "hidden", 32)  # unused: one spec per logistic model

    def build(self) -> Model:
        """The :class:`Model` (cached: equal specs give the same functions)."""
        return build_model(self)


__all__ = [
    "MODEL_KINDS",
    "LocalTrainInfo",
    "Model",
    "ModelSpec",
    "build_model",
    "accuracy",
    "cross_entropy",
    "local_update",
    "local_updates",
    "logistic_regression",
    "mlp",
]


class Model(NamedTuple):
    """A classifier as pure functions over a flat parameter vector.

    Attributes:
        name: ``"logistic_regression"`` or ``"mlp"``.
        n_features: input dimension ``F``.
        n_classes: number of classes ``K``.
        n_params: length ``d`` of the flat parameter vector.
        init: ``init(key) -> f32[d]``.
        apply: ``apply(params f32[d], x f32[..., F]) -> logits f32[..., K]``.
        unravel: ``unravel(params f32[d]) -> dict`` of named weight arrays.
        spec: the :class:`ModelSpec` it was built from.
    """

    name: str
    n_features: int
    n_classes: int
    n_params: int
    init: Callable[[jax.Array], Float[Array, " d"]]
    apply: Callable[[Float[Array, " d"], Float[Array, "... F"]], Float[Array, "... K"]]
    unravel: Callable[[Float[Array, " d"]], dict]
    spec: ModelSpec | None = None


@functools.lru_cache(maxsize=64)
def build_model(spec: ModelSpec) -> Model:
    """Builds the :class:`Model` of ``spec`` (cached, so jitted code is reused)."""
    if not isinstance(spec, ModelSpec):
        raise TypeError(f"spec must be a ModelSpec, got {type(spec).__name__}")
    if spec.kind == "mlp":
        return _mlp(spec)
    return _logistic_regression(spec)


def _splitter(shapes: dict[str, tuple[int, ...]]):
    sizes = [math.prod(s) for s in shapes.values()]
    offsets = np.cumsum([0, *sizes])

    def unravel(flat):
        return {
            name: flat[..., offsets[i] : offsets[i + 1]].reshape(*flat.shape[:-1], *shape)
            for i, (name, shape) in enumerate(shapes.items())
        }

    return int(offsets[-1]), unravel


@jax.custom_jvp
def _matmul(x: Float[Array, "... F"], w: Float[Array, "F K"]) -> Float[Array, "... K"]:
    """``x @ w`` whose derivative in ``w`` is written as a broadcast multiply-and-sum.

    Reverse mode transposes it into ``dw = sum_n x[n, :, None] * g[n, None, :]``, a fused
    reduction. Under ``vmap`` over clients the default rule would emit a batched matrix
    product of 1000 tiny (16 x 64)^T (16 x 10) problems; local training of 1000 digits
    clients (E = 5) runs 1.19x faster with this rule (37 vs 44 ms, side by side), the MLP
    1.13x. Values equal ``x @ w``'s up to float32 summation order.
    """
    return x @ w


def _matmul_jvp(primals, tangents):
    x, w = primals
    dx, dw = tangents
    y = x @ w
    out = jnp.zeros_like(y)
    if not isinstance(dw, SymbolicZero):
        out = out + jnp.sum(x[..., :, None] * dw, axis=-2)  # x @ dw as multiply + sum
    if not isinstance(dx, SymbolicZero):
        out = out + dx @ w
    return y, out


_matmul.defjvp(_matmul_jvp, symbolic_zeros=True)


def _linear(x: Array, w: Array) -> Array:
    """``x @ w`` (via :func:`_matmul` for an unbatched ``[F, K]`` weight)."""
    return _matmul(x, w) if w.ndim == 2 else x @ w


def logistic_regression(n_features: int, n_classes: int) -> Model:
    """Multinomial logistic regression ``logits = x W + b``; ``d = F K + K``.

    ``init`` draws ``W ~ N(0, 0.01^2)`` and ``b = 0``.
    """
    return build_model(ModelSpec("logistic_regression", n_features, n_classes))


def _logistic_regression(spec: ModelSpec) -> Model:
    n_features, n_classes = spec.n_features, spec.n_classes
    d, unravel = _splitter({"w": (n_features, n_classes), "b": (n_classes,)})

    def init(key):
        w = 0.01 * jax.random.normal(key, (n_features * n_classes,))
        return jnp.concatenate([w, jnp.zeros(n_classes)]).astype(jnp.float32)

    def apply(params, x):
        p = unravel(params)
        return _linear(x, p["w"]) + p["b"]

    return Model("logistic_regression", n_features, n_classes, d, init, apply, unravel, spec)


def mlp(n_features: int, n_classes: int, hidden: int = 32) -> Model:
    """One-hidden-layer perceptron ``logits = tanh(x W1 + b1) W2 + b2``.

    ``d = F H + H + H K + K``; ``init`` uses LeCun-normal weights and zero biases.
    """
    return build_model(ModelSpec("mlp", n_features, n_classes, hidden))


def _mlp(spec: ModelSpec) -> Model:
    n_features, n_classes, hidden = spec.n_features, spec.n_classes, spec.hidden
    shapes = {
        "w1": (n_features, hidden),
        "b1": (hidden,),
        "w2": (hidden, n_classes),
        "b2": (n_classes,),
    }
    d, unravel = _splitter(shapes)

    def init(key):
        k1, k2 = jax.random.split(key)
        w1 = jax.random.normal(k1, (n_features * hidden,)) / math.sqrt(n_features)
        w2 = jax.random.normal(k2, (hidden * n_classes,)) / math.sqrt(hidden)
        parts = [w1, jnp.zeros(hidden), w2, jnp.zeros(n_classes)]
        return jnp.concatenate(parts).astype(jnp.float32)

    def apply(params, x):
        p = unravel(params)
        return _linear(jnp.tanh(_linear(x, p["w1"]) + p["b1"]), p["w2"]) + p["b2"]

    return Model("mlp", n_features, n_classes, d, init, apply, unravel, spec)


def cross_entropy(
    model: Model,
    params: Float[Array, " d"],
    x: Float[Array, "n F"],
    y: Int[Array, " n"],
    mask: Bool[Array, " n"] | None = None,
) -> Float[Array, ""]:
    """Mean softmax cross-entropy over the valid samples (0 when none is valid)."""
    logits = model.apply(params, x)
    nll = (
        jax.nn.logsumexp(logits, axis=-1)
        - jnp.take_along_axis(logits, y[..., None], axis=-1)[..., 0]
    )
    if mask is None:
        return nll.mean()
    return jnp.where(mask, nll, 0.0).sum() / jnp.maximum(mask.sum(), 1).astype(nll.dtype)


def accuracy(
    model: Model,
    params: Float[Array, " d"],
    x: Float[Array, "n F"],
    y: Int[Array, " n"],
    mask: Bool[Array, " n"] | None = None,
) -> Float[Array, ""]:
    """Share of valid samples whose arg-max logit is the label."""
    hit = jnp.argmax(model.apply(params, x), axis=-1) == y
    if mask is None:
        return hit.mean()
    return jnp.where(mask, hit, False).sum().astype(jnp.float32) / jnp.maximum(
        mask.sum(), 1
    ).astype(jnp.float32)


class LocalTrainInfo(NamedTuple):
    """Per-client diagnostics of local training.

    Attributes:
        loss: cross-entropy on the client's data at the start (global parameters).
        grad_norm: norm of the first full-batch gradient of the client.
        n_samples: number of valid samples (0: the delta is exactly zero).
    """

    loss: Float[Array, "..."]
    grad_norm: Float[Array, "..."]
    n_samples: Int[Array, "..."]


def local_update(
    key: jax.Array,
    model: Model,
    params: Float[Array, " d"],
    x: Float[Array, "M F"],
    y: Int[Array, " M"],
    mask: Bool[Array, " M"],
    *,
    steps: int,
    batch_size: int,
    lr: float | Float[Array, ""],
) -> tuple[Float[Array, " d"], LocalTrainInfo]:
    """One client's local training: ``steps`` SGD steps from the global parameters.

    Each step draws ``batch_size`` indices uniformly (with replacement) from the
    client's ``count`` valid samples (slots ``0..count-1``; data are packed at the
    front) and takes ``params -= lr * grad(mean CE)``. A client without samples returns
    a zero delta.

    Args:
        key: typed PRNG key.
        model: the model.
        params: ``f32[d]`` global parameters.
        x: ``f32[M, F]`` client features (padded).
        y: ``i32[M]`` labels.
        mask: ``bool[M]`` valid slots (packed at the front).
        steps: number of local SGD steps ``E`` (static).
        batch_size: minibatch size (static).
        lr: client learning rate (may be traced, e.g. from a schedule).

    Returns:
        ``(delta f32[d], LocalTrainInfo)`` with ``delta = local - params``.
    """
    count = mask.sum()
    loss_and_grad = jax.value_and_grad(lambda p, xb, yb, mb: cross_entropy(model, p, xb, yb, mb))
    loss0, g0 = loss_and_grad(params, x, y, mask)

    u = jax.random.uniform(key, (steps, batch_size))  # one draw for all minibatches
    batches = jnp.minimum(jnp.floor(u * count.astype(u.dtype)).astype(jnp.int32), x.shape[0] - 1)

    def sgd(p, idx):
        _, g = loss_and_grad(p, x[idx], y[idx], mask[idx])
        return p - lr * g, None

    local, _ = jax.lax.scan(sgd, params, batches)
    delta = jnp.where(count > 0, local - params, 0.0)
    return delta, LocalTrainInfo(loss0, jnp.linalg.norm(g0), count)


def local_updates(
    key: jax.Array,
    model: Model,
    params: Float[Array, " d"],
    x: Float[Array, "C M F"],
    y: Int[Array, "C M"],
    mask: Bool[Array, "C M"],
    *,
    steps: int,
    batch_size: int,
    lr: float | Float[Array, ""],
) -> tuple[Float[Array, "C d"], LocalTrainInfo]:
    """Local training of every client in one ``vmap`` (see :func:`local_update`).

    Returns:
        ``(deltas f32[C, d], LocalTrainInfo with [C] fields)``.
    """
    keys = jax.random.split(key, x.shape[0])
    fn = lambda k, xc, yc, mc: local_update(
        k, model, params, xc, yc, mc, steps=steps, batch_size=batch_size, lr=lr
    )
    return jax.vmap(fn)(keys, x, y, mask)
