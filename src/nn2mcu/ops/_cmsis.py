"""The #defines both CMSIS-NN APIs share: image dimensions and the window of a
convolution or pooling (kernel, top/left padding, stride), named as parameter.h names
them."""

from __future__ import annotations

from nn2mcu.ir.binding import Site


def image_dims(site: Site) -> dict[str, int]:
    x, y = site.x, site.output
    return {"IN_X": x.w, "IN_Y": x.h, "IN_CH": x.c, "OUT_X": y.w, "OUT_Y": y.h, "OUT_CH": y.c}


def window_dims(site: Site) -> dict[str, int]:
    """The window of a convolution or pooling: kernel, top/left padding, stride."""
    op = site.op
    return dict(
        KER_X=op.kernel[1], KER_Y=op.kernel[0], PAD_X=op.pad[1], PAD_Y=op.pad[0],
        STRIDE_X=op.stride[1], STRIDE_Y=op.stride[0],
    )  # fmt: skip
