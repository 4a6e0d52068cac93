"""What to compute: the product, its units and method, shared by every path.

The file, tile and array paths all take an :class:`Options` and call its
:meth:`Options.compute` on a window of elevations read with the core's halo:
one pass of the compiled kernel from elevations to encoded output bands.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, replace

import numpy as np

from terrain import core
from terrain import units as _units
from terrain.core import EDGE_ORDERS, METHODS
from terrain.errors import UsageError
from terrain.io import NODATA
from terrain.spacing import PixelGeometry, VerticalUnit

__all__ = ["PRODUCTS", "Options"]

#: What each command writes: band descriptions.
PRODUCTS = {
    "slope": ("slope",),
    "gradient": ("dz/dx", "dz/dy"),
    "aspect": ("aspect",),
    "hillshade": ("hillshade",),
}

#: Band unit strings written to the file's metadata.
_UNIT_LABELS = {"ratio": "m/m", "percent": "%", "degrees": "degree", "radians": "radian"}

@dataclass(frozen=True)
class Options:
    """What to compute, shared by the file, tile and array paths.

    ``z_factor`` is the user's metres per elevation unit, or None to take the
    unit from what the raster declares; :meth:`with_vertical` resolves it.
    On plain arrays (:meth:`compute`) None means the elevations are metres.
    """

    product: str = "slope"
    units: str = "ratio"
    edge_order: int = 2
    z_factor: float | None = None
    method: str = "central"
    azimuth: float = 315.0
    altitude: float = 45.0

    def __post_init__(self):
        if self.product not in PRODUCTS:
            raise UsageError(
                f"unknown product {self.product!r}: choose one of {', '.join(PRODUCTS)}"
            )
        _units.check_units(self.units)
        if isinstance(self.edge_order, bool) or self.edge_order not in EDGE_ORDERS:
            raise UsageError(f"edge order must be 1 or 2, not {self.edge_order!r}")
        for name, value in (("z factor", self.z_factor), ("azimuth", self.azimuth),
                            ("altitude", self.altitude)):
            if value is None and name == "z factor":
                continue
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise UsageError(f"{name} must be a number, not {value!r}")
        if self.z_factor is not None and (
            not np.isfinite(self.z_factor) or self.z_factor == 0
        ):
            raise UsageError(f"z factor must be a non-zero number, not {self.z_factor!r}")
        if self.method not in METHODS:
            raise UsageError(
                f"unknown method {self.method!r}: choose one of {', '.join(METHODS)}"
            )
        if not 0 <= self.altitude <= 90:
            raise UsageError(
                f"altitude must be between 0 and 90 degrees above the horizon, "
                f"not {self.altitude!r}"
            )
        if not np.isfinite(self.azimuth):
            raise UsageError(f"azimuth must be a number of degrees, not {self.azimuth!r}")

    @property
    def dtype(self) -> str:
        """Output data type: hillshade is gdaldem's Byte, the rest float32."""
        return "uint8" if self.product == "hillshade" else "float32"

    @property
    def nodata(self) -> float:
        return 0 if self.product == "hillshade" else NODATA

    @property
    def band_units(self) -> tuple[str, ...]:
        if self.product == "slope":
            return (_UNIT_LABELS[self.units],)
        if self.product == "aspect":
            return ("degree",)
        if self.product == "hillshade":
            return ("",)
        return ("m/m", "m/m")

    def with_vertical(self, vertical: VerticalUnit) -> Options:
        """These options with ``z_factor`` resolved to metres per stored elevation value."""
        return replace(self, z_factor=vertical.z_factor)

    def compute(
        self, z: np.ndarray, valid: core.Validity, geometry: PixelGeometry,
        inner: tuple[slice, slice] = (slice(None), slice(None)), *,
        encoded: bool = False, dtype=np.float64, jobs: int = 1,
    ) -> np.ndarray:
        """Output bands of the ``inner`` part of a window read with its halo.

        One pass of the compiled kernel (:func:`terrain.core.fused`), shape
        (bands, rows, cols): ``dtype`` with NaN for nodata, or with
        ``encoded`` as the file stores them (:attr:`dtype`, :attr:`nodata`).
        """
        return core.fused(
            z, valid, **geometry.kernel_args(self.method), edge_order=self.edge_order,
            method=self.method, z_factor=1.0 if self.z_factor is None else self.z_factor,
            product=self.product, units=self.units, azimuth=self.azimuth, altitude=self.altitude,
            dtype=self.dtype if encoded else dtype,
            nodata=self.nodata if encoded else np.nan, inner=inner, jobs=jobs,
        )
