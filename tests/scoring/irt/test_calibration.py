"""Bock-Aitkin calibration: parameter recovery with honest SEs, convergence, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from scoring.irt.calibration import (
    CalibrationError,
    calibrate,
    recovery_rmse,
    simulate_responses,
)
from scoring.irt.models import ItemParams


def true_items(n: int, model: str, seed: int) -> ItemParams:
    rng = np.random.default_rng(seed)
    return ItemParams(
        ids=tuple(f"Q{j}" for j in range(n)),
        a=np.full(n, 1.3) if model == "1pl" else rng.lognormal(0, 0.3, n),
        b=rng.uniform(-2, 2, n),
        c=rng.uniform(0.1, 0.25, n) if model == "3pl" else np.zeros(n),
        d=np.ones(n),
    )


@pytest.mark.parametrize("model", ["1pl", "2pl", "3pl"])
def test_parameters_are_recovered_within_their_standard_errors(model):
    """1,500 examinees x 25 items from the model itself.

    If estimates are consistent and the XPD standard errors honest, |estimate - true| / SE
    is roughly N(0, 1): about 95% within 2 SE. With 25 items the share within 2.5 SE falls
    below 80% with probability < 0.1% (binomial(25, 0.988)); that is the bound we test.
    """
    true = true_items(25, model, seed=4)
    x = simulate_responses(true, np.random.default_rng(5).normal(size=1500), seed=6)
    result = calibrate(x, model, ids=true.ids)
    assert result.converged
    for name in ("a", "b") + (("c",) if model == "3pl" else ()):
        z = (getattr(result.params, name) - getattr(true, name)) / result.se[name]
        assert np.mean(np.abs(z) < 2.5) >= 0.8, (name, z)
    rmse = recovery_rmse(true, result.params)
    assert rmse["b"] < {"1pl": 0.1, "2pl": 0.15, "3pl": 0.35}[model]


def test_em_log_likelihood_rises_and_convergence_is_reported():
    true = true_items(15, "2pl", seed=1)
    x = simulate_responses(true, np.random.default_rng(2).normal(size=800), seed=3)
    result = calibrate(x, "2pl")
    ll = np.array(result.log_likelihood)
    # EM never lowers the marginal likelihood (Dempster, Laird & Rubin 1977).
    assert np.all(np.diff(ll) > -1e-6 * abs(ll[-1]))
    assert result.converged and result.max_change < 1e-4
    doc = result.to_json()
    assert doc["calibration"]["converged"] is True
    assert {"se", "fit"} <= set(doc["items"][0])
    limited = calibrate(x, "2pl", max_iter=2)
    assert not limited.converged and limited.iterations == 2


def test_items_not_presented_are_left_out_not_counted_wrong():
    true = true_items(20, "2pl", seed=7)
    x = simulate_responses(true, np.random.default_rng(8).normal(size=1500), seed=9)
    rng = np.random.default_rng(10)
    x[rng.random(x.shape) < 0.3] = np.nan
    result = calibrate(x, "2pl")
    # Treating a blank as wrong would push every b up by ~0.5; left out, b is unbiased.
    assert abs(np.mean(result.params.b - true.b)) < 0.1


def test_fit_statistics_flag_an_item_that_does_not_follow_the_model():
    true = true_items(20, "2pl", seed=11)
    thetas = np.random.default_rng(12).normal(size=2000)
    x = simulate_responses(true, thetas, seed=13)
    # Item 0 becomes non-monotone: the strongest and the weakest both get it right.
    x[:, 0] = ((thetas > 0.0) | (thetas < -1.5)).astype(float)
    result = calibrate(x, "2pl")
    assert np.argmax(result.rmsd) == 0
    assert result.q1_p[0] < 1e-6
    assert np.median(result.q1_p[1:]) > 0.05
    # Orlando & Thissen's S-X2 on the complete design: the same verdict.
    _, df, p = result.sx2
    assert p[0] < 1e-6 and np.median(p[1:]) > 0.2 and np.mean(p[1:] < 0.01) <= 0.1
    assert np.all(df >= 10)
    fit = result.to_json()["items"][0]["fit"]
    assert fit["s_x2_p"] < 1e-6 and fit["s_x2_df"] == int(df[0])


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        ([[1, 0], [0, 2]], "examinee 2, item 2: responses must be 0, 1 or missing"),
        ([[1, 0]], "at least 2 examinees"),
        (
            [[1, 0], [1, 1], [1, 0], [1, np.nan]],
            "no item can be calibrated: item1: every examinee answered it correctly: not "
            "estimable; item2: answered by 3 examinee",
        ),
    ],
)
def test_bad_matrices_are_refused_with_the_place_named(matrix, message):
    with pytest.raises(CalibrationError, match=message):
        calibrate(np.array(matrix, dtype=float), "2pl", min_responses=4)


def test_items_that_cannot_be_calibrated_are_all_named_and_the_rest_calibrated():
    """A live adaptive section: some items barely seen, some answered all right or all wrong."""
    true = true_items(30, "2pl", seed=21)
    x = simulate_responses(true, np.random.default_rng(22).normal(size=1200), seed=23)
    x[5:, 3] = np.nan  # seen by 5
    x[1:, 7] = np.nan  # seen by 1
    x[:, 9] = np.where(np.isnan(x[:, 9]), np.nan, 1.0)  # all right
    x[:, 11] = 0.0  # all wrong
    result = calibrate(x, "2pl", ids=tuple(true.ids), min_responses=20)
    assert set(result.skipped) == {true.ids[j] for j in (3, 7, 9, 11)}
    assert "answered by 5 examinee(s), fewer than the minimum 20" in result.skipped[true.ids[3]]
    assert "every examinee answered it wrongly" in result.skipped[true.ids[11]]
    assert len(result.params) == 26 and result.converged
    keep = [j for j in range(30) if j not in (3, 7, 9, 11)]
    assert np.sqrt(np.mean((result.params.b - true.b[keep]) ** 2)) < 0.25
    loaded = ItemParams.from_json(result.to_json())  # what calibrate writes loads
    assert loaded.ids == result.params.ids
    assert [s["id"] for s in result.to_json()["calibration"]["skipped"]] == list(result.skipped)


@pytest.mark.parametrize("model", ["2pl", "3pl"])
def test_a_mis_keyed_item_is_reported_as_reversed_never_converged_at_a_bound(model):
    true = true_items(25, model, seed=31)
    x = simulate_responses(true, np.random.default_rng(32).normal(size=1500), seed=33)
    x[:, 4] = 1.0 - x[:, 4]  # the key marks the wrong option right
    result = calibrate(x, model, ids=tuple(true.ids))
    assert list(result.skipped) == [true.ids[4]]
    assert result.skipped[true.ids[4]].startswith("reversed: scored against the rest")
    assert true.ids[4] not in result.params.ids
    assert result.converged
    assert np.all(result.params.a > 0.2) and np.all(np.abs(result.params.b) < 10)
    ItemParams.from_json(result.to_json())


def test_unknown_model_is_refused():
    with pytest.raises(CalibrationError, match="unknown model"):
        calibrate(np.eye(3), "5pl")


def test_squarem_reaches_the_fixed_point_of_a_slow_em_in_few_cycles():
    """A map that creeps to its fixed point at EM's linear rate (0.95 per cycle: about 180
    plain cycles to 1e-4) is accelerated to it in a few dozen, the objective never falling
    along the recorded path, and bounds respected by every jump."""
    from scoring.irt.calibration import accelerated_em

    target = np.array([1.5, -0.7, 0.3])
    rate = np.array([0.95, 0.9, 0.5])

    def em_cycle(phi):
        objective = -float(np.sum((phi - target) ** 2))
        return target + rate * (phi - target), objective, objective

    def moved(old, new):
        return float(np.max(np.abs(new - old)))

    run = accelerated_em(em_cycle, np.zeros(3), change=moved,
                         project=lambda phi: np.clip(phi, -2, 2), tol=1e-6, max_iter=500)
    assert run.converged
    assert np.allclose(run.params, target, atol=1e-4)
    assert run.iterations < 60
    assert np.all(np.diff(run.history) >= -1e-12)
