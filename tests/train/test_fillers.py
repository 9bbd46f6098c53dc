import math

import pytest
import torch

from nn2mcu.errors import InputError
from nn2mcu.train.fillers import fill
from nn2mcu.trainspec import Filler


def filled(shape: tuple[int, ...], filler: Filler) -> torch.Tensor:
    tensor = torch.empty(shape)
    fill(tensor, filler, torch.Generator().manual_seed(1))
    return tensor


def test_constant_and_uniform() -> None:
    assert torch.equal(filled((3,), Filler("constant", value=0.5)), torch.full((3,), 0.5))
    values = filled((10000,), Filler("uniform", min=-0.25, max=0.75))
    assert values.min() >= -0.25 and values.max() <= 0.75
    assert float(values.mean()) == pytest.approx(0.25, abs=0.02)


def test_gaussian_mean_and_std() -> None:
    values = filled((200, 100), Filler("gaussian", mean=1.0, std=0.01))
    assert float(values.mean()) == pytest.approx(1.0, abs=0.001)
    assert float(values.std()) == pytest.approx(0.01, rel=0.05)


def test_xavier_and_msra_scale_by_fan() -> None:
    # conv weight (O, I, KH, KW) = (64, 32, 5, 5): fan_in 800, fan_out 1600
    xavier = filled((64, 32, 5, 5), Filler("xavier"))
    bound = math.sqrt(3 / 800)
    assert float(xavier.abs().max()) <= bound
    assert float(xavier.abs().max()) > 0.99 * bound
    msra = filled((64, 32, 5, 5), Filler("msra", variance_norm="FAN_OUT"))
    assert float(msra.std()) == pytest.approx(math.sqrt(2 / 1600), rel=0.05)
    average = filled((64, 32, 5, 5), Filler("xavier", variance_norm="AVERAGE"))
    assert float(average.abs().max()) <= math.sqrt(3 / 1200)


def test_unknown_filler() -> None:
    with pytest.raises(InputError, match="filler 'bilinear' is not supported"):
        filled((2,), Filler("bilinear"))
