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
from terrain.core import EDGE_ORDERS, METHODS, Window
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

    ``window`` (pixels, or a length such as ``"30m"``) selects the quadratic
    method, which alone takes a window of 3; ``method`` None means central
    unless a window is given. With central or horn a window is an error.
    """

    product: str = "slope"
    units: str = "ratio"
    edge_order: int = 2
    z_factor: float | None = None
    method: str | None = None
    azimuth: float = 315.0
    altitude: float = 45.0
    window: Window | int | str | None = None

    def __post_init__(self):
        if self.window is not None:
            object.__setattr__(self, "window", Window.parse(self.window))
            if self.method is None:
                object.__setattr__(self, "method", "quadratic")
        elif self.method is None:
            object.__setattr__(self, "method", "central")
        elif self.method == "quadratic":
            object.__setattr__(self, "window", Window(pixels=3))
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
        if self.window is not None and self.method != "quadratic":
            raise UsageError(
                f"a window goes with the quadratic method, not {self.method}: "
                "leave the method out (a window selects quadratic)"
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

    def window_shape(self, geometry: PixelGeometry, rows: int) -> np.ndarray | None:
        """The window's (rows, columns) for each of the geometry's ``rows`` rows; None
        for the 3x3 methods. Each row's from its own pixel size (its latitude on lat/lon
        grids), so that a window of the raster gives each row what the whole gives it."""
        if self.window is None:
            return None
        return self.window.shape(*geometry.pixel_metres(), rows)

    def window_tags(self, geometry: PixelGeometry, rows: int) -> dict[str, str]:
        """Tags that record the window over a result's ``rows`` rows (none without one).

        ``TERRAIN_WINDOW`` as asked (``7``, ``30m``); ``TERRAIN_WINDOW_PIXELS``,
        rows x columns; ``TERRAIN_WINDOW_METRES``, the ground it spans along each
        axis (pixel count x pixel length). Where they vary by row (a length in
        metres on a lat/lon grid), the least and greatest, ``3..5``.
        """
        if self.window is None:
            return {}
        shape = self.window_shape(geometry, rows)
        row_m, col_m = geometry.pixel_metres()

        def extent(values, fmt):
            values = np.asarray(values)
            low, high = values.min(), values.max()
            return fmt(low) if low == high else f"{fmt(low)}..{fmt(high)}"

        def pixels(v):
            return str(int(v))

        def metres(v):
            return f"{v:.6g}"

        tags = {
            "TERRAIN_WINDOW": str(self.window),
            "TERRAIN_WINDOW_PIXELS": f"{extent(shape[:, 0], pixels)} x "
                                     f"{extent(shape[:, 1], pixels)}",
        }
        if row_m is not None and col_m is not None:
            spans = (shape[:, 0] * np.broadcast_to(row_m, (rows,)),
                     shape[:, 1] * np.broadcast_to(col_m, (rows,)))
            tags["TERRAIN_WINDOW_METRES"] = (f"{extent(spans[0], metres)} x "
                                             f"{extent(spans[1], metres)}")
        return tags

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
            window=self.window_shape(geometry, np.shape(z)[0]),
            method=self.method, z_factor=1.0 if self.z_factor is None else self.z_factor,
            product=self.product, units=self.units, azimuth=self.azimuth, altitude=self.altitude,
            dtype=self.dtype if encoded else dtype,
            nodata=self.nodata if encoded else np.nan, inner=inner, jobs=jobs,
        )
