"""nn_quantizer.py's candidate loop, reproduced: literal accuracy sequences in, choice out."""

import pytest

from nn2mcu.quant.q7.arm_method import arm_candidates


def run(
    start_int: int, accuracies: list[float], target: float
) -> tuple[int, list[tuple[int, bool]]]:
    seen: list[tuple[int, bool]] = []

    def evaluate(frac: int, saturate: bool) -> float:
        seen.append((frac, saturate))
        return accuracies[len(seen) - 1]

    return arm_candidates(start_int, evaluate, target), seen


def test_first_candidate_within_tolerance_ends_the_search() -> None:
    chosen, seen = run(2, [0.8, 0.9], target=0.8 + 0.000005)
    assert chosen == 5 and seen == [(5, False)]  # unsaturated first candidate only


def test_at_most_three_more_fractional_bits() -> None:
    chosen, seen = run(2, [0.1, 0.2, 0.3, 0.4, 0.5], target=0.9)
    assert seen == [(5, False), (6, True), (7, True), (8, True)]
    assert chosen == 8


def test_keeps_the_strictly_better_candidate() -> None:
    chosen, _ = run(0, [0.5, 0.7, 0.7, 0.6], target=0.9)
    assert chosen == 8  # 0.7 first reached with one more bit; the equal 0.7 does not replace it


def test_stops_early_on_the_latest_candidate_even_if_an_earlier_was_better() -> None:
    chosen, seen = run(0, [0.5, 0.95, 0.899995], target=0.9)
    assert len(seen) == 2 and chosen == 8
    chosen, seen = run(0, [0.5, 0.6, 0.899995, 0.99], target=0.9)
    assert seen[-1] == (9, True) and chosen == 9


@pytest.mark.parametrize("start", [-3, 0, 4])
def test_start_format_is_seven_minus_int_bits(start: int) -> None:
    chosen, seen = run(start, [1.0], target=0.5)
    assert chosen == seen[0][0] == 7 - start
