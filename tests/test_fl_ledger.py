"""The FL update ledger: routing by precedence, exact balance, and a planted silent drop."""

import numpy as np
import pytest

from meshlab.fl import ledger

R, N = 12, 10


def _masks(seed=0):
    rng = np.random.default_rng(seed)
    sent = rng.random((R, N)) < 0.7
    crashed = rng.random((R, N)) < 0.1
    cut = rng.random((R, N)) < 0.2
    rejected = rng.random((R, N)) < 0.15
    return sent, crashed, cut, rejected


def test_routing_balances_exactly_and_follows_the_precedence():
    sent, crashed, cut, rejected = _masks()
    agg, reasons = ledger.route(sent, crashed=crashed, partition=cut, rejected=rejected)
    book = ledger.account(sent, agg, reasons)
    ledger.check(book)
    c = book.counts
    assert c["aggregated"] + c["accounted"] == c["sent"] == int(sent.sum())
    # independent counts of each path by the precedence crashed > partition > rejected
    assert c["crashed"] == int((sent & crashed).sum())
    assert c["partition"] == int((sent & ~crashed & cut).sum())
    assert c["rejected"] == int((sent & ~crashed & ~cut & rejected).sum())
    assert c["stale"] == 0
    assert c["aggregated"] == int((sent & ~crashed & ~cut & ~rejected).sum())
    np.testing.assert_array_equal(book.per_round["sent"], sent.sum(axis=1))


def test_a_planted_silent_drop_is_caught():
    sent, crashed, cut, rejected = _masks(1)
    agg, reasons = ledger.route(sent, crashed=crashed, partition=cut, rejected=rejected)
    r, c = np.argwhere(agg)[0]
    agg = agg.copy()
    agg[r, c] = False  # the server silently drops one honest update
    book = ledger.account(sent, agg, reasons)
    assert book.unaccounted.sum() == 1 and book.unaccounted[r, c]
    with pytest.raises(AssertionError, match=rf"1 unaccounted updates, first \[\({r}, {c}\)\]"):
        ledger.check(book)


def test_double_counting_and_phantom_updates_are_caught():
    sent, crashed, cut, _ = _masks(2)
    agg, reasons = ledger.route(sent, crashed=crashed, partition=cut)
    r, c = np.argwhere(reasons["crashed"])[0]
    agg = agg.copy()
    agg[r, c] = True  # aggregated an update of a crashed client
    with pytest.raises(AssertionError, match="double"):
        ledger.check(ledger.account(sent, agg, reasons))
    agg, reasons = ledger.route(sent)
    r, c = np.argwhere(~sent)[0]
    agg = agg.copy()
    agg[r, c] = True
    with pytest.raises(AssertionError, match="phantom"):
        ledger.check(ledger.account(sent, agg, reasons))


def test_batched_runs_and_bad_input():
    sent = np.stack([_masks(s)[0] for s in range(3)])
    agg, reasons = ledger.route(sent, stale=np.zeros_like(sent))
    book = ledger.account(sent, agg, reasons)
    ledger.check(book)
    assert book.per_round["sent"].shape == (3, R)
    with pytest.raises(TypeError, match="crashed must be a bool mask"):
        ledger.route(sent, crashed=np.zeros(sent.shape, int))
    with pytest.raises(ValueError, match="shape of sent"):
        ledger.route(sent, partition=np.zeros((R, N), bool))
    with pytest.raises(ValueError, match="reasons must be among"):
        ledger.account(sent, agg, {"lost": sent})
