import pytest

from nn2mcu.errors import InputError
from nn2mcu.train.lr_policy import learning_rate
from nn2mcu.trainspec import SolverConfig

# (policy, parameters, iteration, expected lr), computed by hand from Caffe's formulas
TABLE = [
    ("fixed", {"base_lr": 0.01}, 0, 0.01),
    ("fixed", {"base_lr": 0.01}, 12345, 0.01),
    ("step", {"base_lr": 0.01, "gamma": 0.1, "stepsize": 100}, 99, 0.01),
    ("step", {"base_lr": 0.01, "gamma": 0.1, "stepsize": 100}, 250, 0.0001),
    ("exp", {"base_lr": 0.01, "gamma": 0.99}, 2, 0.009801),
    ("inv", {"base_lr": 0.01, "gamma": 0.0001, "power": 0.75}, 10000, 0.005946035575013605),
    ("poly", {"base_lr": 0.01, "power": 2.0, "max_iter": 100}, 50, 0.0025),
    ("poly", {"base_lr": 0.01, "power": 1.0, "max_iter": 100}, 75, 0.0025),
    ("sigmoid", {"base_lr": 0.01, "gamma": -0.1, "stepsize": 50}, 50, 0.005),
    ("sigmoid", {"base_lr": 0.01, "gamma": -0.1, "stepsize": 50}, 60, 0.0026894142136999513),
]


@pytest.mark.parametrize(("policy", "parameters", "iteration", "expected"), TABLE)
def test_policy_table(policy: str, parameters: dict, iteration: int, expected: float) -> None:
    config = SolverConfig(lr_policy=policy, **parameters)
    rate, _ = learning_rate(config, iteration, 0)
    assert rate == pytest.approx(expected, rel=1e-12)


def test_multistep_advances_one_step_value_per_call() -> None:
    config = SolverConfig(lr_policy="multistep", base_lr=1.0, gamma=0.5, stepvalues=(10, 20))
    step, rates = 0, {}
    for iteration in range(31):
        rates[iteration], step = learning_rate(config, iteration, step)
    assert [rates[i] for i in (0, 9, 10, 19, 20, 30)] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    assert step == 2


def test_unknown_policy() -> None:
    with pytest.raises(InputError, match="lr_policy 'cosine' is not supported"):
        learning_rate(SolverConfig(lr_policy="cosine"), 0, 0)
