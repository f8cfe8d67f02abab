"""``GLMData.rmatvec_recurring``: A^T d for the vectors that recur from fit to fit (A^T b,
the gradient at the origin) is remembered exactly, handed out as a copy, and never
returned for a different d."""
import numpy as np
import scipy.sparse as sp

from solvelab.families.glm.data import GLMData


def _data(dense):
    rng = np.random.default_rng(0)
    M = sp.random(50, 8, density=0.4, random_state=rng, format="csc")
    return GLMData(np.asfortranarray(M.toarray()) if dense else None, None if dense else M, np.ones(50),
                   rng.standard_normal(50), 50, 8), M


def test_recurring_products_are_exact_copies_and_never_stale():
    for dense in (True, False):
        D, _ = _data(dense)
        d1 = np.random.default_rng(1).standard_normal(50)
        first = D.rmatvec_recurring(d1)
        np.testing.assert_array_equal(first, D.rmatvec(d1))
        first[:] = 0.0                       # the caller's copy: the memo is not touched
        again = D.rmatvec_recurring(d1.copy())
        np.testing.assert_array_equal(again, D.rmatvec(d1))
        d2 = d1.copy()
        d2[7] += 1e-15                       # not equal: a fresh product
        np.testing.assert_array_equal(D.rmatvec_recurring(d2), D.rmatvec(d2))
        d3 = -d1
        np.testing.assert_array_equal(D.rmatvec_recurring(d3), D.rmatvec(d3))   # d1 drops out of the two kept
        np.testing.assert_array_equal(D.rmatvec_recurring(d1), D.rmatvec(d1))
        assert len(D.__dict__["_recurring"]) == 2


def _coo_route(cols, m, n):
    rows, colj, vals = [], [], []
    for off, Ms in cols:
        P = Ms.tocoo()
        rows.append(P.row)
        colj.append(P.col + off)
        vals.append(P.data)
    return sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(colj))), shape=(m, n))


def test_column_blocks_are_stacked_as_the_coo_route_sums_them():
    from solvelab.families.glm.data import _stack_columns
    rng = np.random.default_rng(3)
    X = sp.random(30, 6, density=0.5, random_state=rng, format="csc")
    ones = sp.csc_matrix(np.ones((30, 1)))
    dup = sp.csc_matrix((np.array([1.0, 2.0]), (np.array([4, 4]), np.array([0, 0]))), shape=(30, 1))
    for cols, n in (([(0, X), (6, ones)], 7),             # X and its intercept
                    ([(1, ones), (3, X)], 10),            # gaps: empty columns
                    ([(6, ones), (0, X)], 7),             # out of order
                    ([(0, X), (2, X)], 8),                # overlapping: summed
                    ([(0, dup), (1, X)], 7)):             # duplicate entries within a block
        got, want = _stack_columns(cols, 30, n), _coo_route(cols, 30, n)
        assert got.shape == want.shape
        np.testing.assert_array_equal(got.toarray(), want.toarray())
        got.sum_duplicates()
        assert got.has_sorted_indices
