"""NN_ALIGN4 on each compiler it knows, and the compile-time checks that the arena, its
offsets and the constant arrays are 4-byte aligned.

GCC takes its own branch and, with __GNUC__ undefined and -std=c11, the C11 branch; IAR's
and Arm Compiler 5's branches are checked by the preprocessor (their compilers are not on
this machine); Arm Compiler 6 and clang take the GCC branch.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.codegen.conftest import nn2mcu

NETWORKS = Path(__file__).resolve().parents[1] / "golden" / "networks"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("alignment")
    result = nn2mcu("generate", NETWORKS / "fashion-q7" / "model.json", "-o", root / "p", cwd=root)
    assert result.returncode == 0, result.stderr
    return root / "p"


def _compile(project: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["gcc", "-O2", "-fdata-sections", "-I.", "-Ikernels", *flags, "-c", "weights.c", "nn.c"],
        cwd=project, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def _array_alignments(project: Path) -> dict[str, int]:
    """Each constant array's (and the arena's) section alignment in the objects."""
    found = {}
    for obj in ("weights.o", "nn.o"):
        listing = subprocess.run(
            ["readelf", "-SW", obj], cwd=project, capture_output=True, text=True, check=True
        ).stdout
        for match in re.finditer(r"\] \.(?:rodata|bss)\.(\w+)\s.*\s(\d+)$", listing, re.M):
            found[match.group(1)] = int(match.group(2))
    return found


def _arrays(project: Path) -> list[str]:
    return re.findall(r"^NN_CHECK_ALIGNED4\((\w+)\);", (project / "weights.c").read_text(), re.M)


@pytest.mark.host
@pytest.mark.parametrize(
    "flags", [("-std=c99",), ("-std=c11", "-U__GNUC__", "-U__GNUC_MINOR__")], ids=["gcc", "c11"]
)
def test_every_array_and_the_arena_are_4_byte_aligned(
    project: Path, flags: tuple[str, ...]
) -> None:
    result = _compile(project, *flags)
    assert result.returncode == 0, result.stderr
    alignments = _array_alignments(project)
    arrays = _arrays(project)
    assert "nn_mean" in arrays and len(arrays) > 5
    for name in [*arrays, "nn_arena"]:
        assert alignments.get(name, 0) >= 4, (name, alignments.get(name))


@pytest.mark.host
def test_the_check_stops_a_build_whose_arrays_are_not_aligned(project: Path) -> None:
    # a user's NN_ALIGN4 that does nothing: nn_mean (uint8) is then 1-byte aligned
    result = _compile(project, "-std=c99", "-DNN_ALIGN4=", "-DNN_ALIGNOF(x)=__alignof__(x)")
    assert result.returncode != 0
    assert re.search(r"nn_check_nn_mean_aligned4.*negative|negative.*nn_check_nn_mean", result.stderr,
                     re.S), result.stderr  # fmt: skip


def _preprocess(project: Path, *defines: str) -> subprocess.CompletedProcess[str]:
    source = '#include "parameter.h"\nNN_ALIGN4 const unsigned char probe[3] = {1, 2, 3};\n'
    return subprocess.run(
        ["gcc", "-E", "-P", "-undef", *defines, "-I.", "-"], cwd=project, input=source,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.mark.host
@pytest.mark.parametrize(
    ("defines", "expansion"),
    [
        # the preprocessor turns _Pragma into IAR's documented form, just before the object
        (("-D__ICCARM__",), "#pragma data_alignment=4\n const unsigned char probe"),
        (("-D__CC_ARM",), "__align(4) const unsigned char probe"),
        (("-D__ARMCC_VERSION=6180002", "-D__clang__"), "__attribute__((aligned(4))) const"),
        (("-D__STDC_VERSION__=201112L",), "_Alignas(4) const unsigned char probe"),
    ],
    ids=["iar", "armcc5", "armclang6", "c11"],
)
def test_each_compiler_gets_its_alignment(
    project: Path, defines: tuple[str, ...], expansion: str
) -> None:
    result = _preprocess(project, *defines)
    assert result.returncode == 0, result.stderr
    assert expansion in result.stdout, result.stdout[-500:]


@pytest.mark.host
def test_an_unknown_c99_compiler_is_told_to_define_the_macro(project: Path) -> None:
    result = _preprocess(project, "-D__STDC_VERSION__=199901L")
    assert result.returncode != 0
    assert "define NN_ALIGN4" in result.stderr
