"""What to compute: the product, its units and method, shared by every path.

The file, tile and array paths all take an :class:`Options` and call its
:meth:`Options.compute` on a window of elevations read with the core's halo:
one pass of the compiled kernel from elevations to encoded output bands.
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass, replace

import numpy as np

from terrain import core
from terrain import units as _units
from terrain.core import (
    CURVATURES,
    EDGE_ORDERS,
    FIT_SIGMA_WINDOW,
    METHODS,
    UNCERTAIN_PRODUCTS,
    Window,
    check_kinds,
)
from terrain.errors import UsageError
from terrain.io import NODATA
from terrain.spacing import PixelGeometry, VerticalUnit

__all__ = ["PRODUCTS", "Options", "ZSigma"]

#: What each command writes: band descriptions (curvature: one band per kind,
#: named after it; see :attr:`Options.bands`).
PRODUCTS = {
    "slope": ("slope",),
    "gradient": ("dz/dx", "dz/dy"),
    "aspect": ("aspect",),
    "hillshade": ("hillshade",),
    "curvature": CURVATURES,
}

#: Band unit strings written to the file's metadata.
_UNIT_LABELS = {"ratio": "m/m", "percent": "%", "degrees": "degree", "radians": "radian"}

#: Each curvature's unit: 1/m, Gaussian curvature 1/m² (UDUNITS spellings).
CURVATURE_UNITS = {kind: "1/m2" if kind == "gaussian" else "1/m" for kind in CURVATURES}

#: What the standard errors hold where the slope is within noise of 0 (the file's tag).
NEAR_FLAT = ("where the slope is at most twice its first-order standard error: slope "
             "sqrt(var dz/dx + var dz/dy), aspect 103.923 degrees (360/sqrt(12))")


@dataclass(frozen=True)
class ZSigma:
    """The elevations' standard error, uncorrelated from pixel to pixel.

    One of: ``metres``, one number for every pixel, in metres whatever unit
    the elevations are stored in; ``raster``, the path of a raster on the
    DEM's grid holding each pixel's, in the DEM's vertical unit (its own band
    scale applied), ``factor`` metres per stored value once the DEM's unit is
    known (:meth:`Options.with_sigma_factor`); ``fit``, each window's
    residuals, sqrt(RSS / (n - 6)) (the window fit, 5 pixels or more).

    >>> ZSigma.parse(0.5), ZSigma.parse("fit").fit, ZSigma.parse("2").metres
    (ZSigma(metres=0.5, raster=None, fit=False, factor=1.0), True, 2.0)
    """

    metres: float | None = None
    raster: str | None = None
    fit: bool = False
    factor: float = 1.0

    @classmethod
    def parse(cls, spec) -> ZSigma:
        """A number (metres), ``"fit"``, or a raster's path; a string that reads as a
        number is that number."""
        if isinstance(spec, ZSigma):
            return spec
        if isinstance(spec, bool):
            raise UsageError(f"z sigma must be a number of metres, a raster or 'fit', "
                             f"not {spec!r}")
        if isinstance(spec, numbers.Real):
            value = float(spec)
        elif isinstance(spec, str | os.PathLike):
            text = os.fspath(spec)
            if text.strip() == "fit":
                return cls(fit=True)
            try:
                value = float(text)
            except ValueError:
                if not text.strip():
                    raise UsageError("z sigma is empty: give a number of metres, a raster "
                                     "or 'fit'") from None
                return cls(raster=text)
        else:
            raise UsageError(f"z sigma must be a number of metres, a raster or 'fit', "
                             f"not {spec!r}")
        if not 0 <= value < math.inf:
            raise UsageError(f"z sigma must be a finite number of metres, 0 or more, "
                             f"not {spec!r}")
        return cls(metres=value)

    @property
    def source(self) -> str:
        """Where sigma comes from, for the tags: ``number``, ``raster`` or ``fit``."""
        return "fit" if self.fit else "raster" if self.raster is not None else "number"

    def kernel(self, sigma: np.ndarray | None = None) -> tuple[float | str | np.ndarray, float]:
        """:func:`terrain.core.fused`'s ``z_sigma`` and ``sigma_factor``; ``sigma`` is a
        raster's block."""
        if self.fit:
            return "fit", 1.0
        if self.raster is not None:
            if sigma is None:
                raise UsageError("a sigma raster's values are needed (none were read)")
            return sigma, self.factor
        return self.metres, 1.0


@dataclass(frozen=True)
class Options:
    """What to compute, shared by the file, tile and array paths.

    ``z_factor`` is the user's metres per elevation unit, or None to take the
    unit from what the raster declares; :meth:`with_vertical` resolves it.
    On plain arrays (:meth:`compute`) None means the elevations are metres.

    ``window`` (pixels, or a length such as ``"30m"``) selects the quadratic
    method, which alone takes a window of 3; ``method`` None means central
    unless a window is given. With central or horn a window is an error.

    ``kinds`` are the curvature product's bands (names of
    :data:`terrain.core.CURVATURES`, one or several, each once). Curvatures
    come from the window fit only: its method is quadratic, with a window of 3
    unless ``window`` says otherwise; central or horn is an error.

    ``z_sigma`` (a :class:`ZSigma`, or what :meth:`ZSigma.parse` takes) asks
    for the standard error of each output value besides it (gradient, slope
    and aspect only): :meth:`compute` then returns both.
    """

    product: str = "slope"
    units: str = "ratio"
    edge_order: int = 2
    z_factor: float | None = None
    method: str | None = None
    azimuth: float = 315.0
    altitude: float = 45.0
    window: Window | int | str | None = None
    kinds: tuple[str, ...] | str | None = None
    z_sigma: ZSigma | float | str | None = None

    def __post_init__(self):
        if self.product == "curvature":
            object.__setattr__(self, "kinds", check_kinds(self.kinds))
            if self.method in ("central", "horn"):
                raise UsageError(
                    f"curvatures come from the quadratic window fit, not the {self.method} "
                    "method: leave the method out (--window sets the fit's size, 3 by default)"
                )
            if self.window is None:
                object.__setattr__(self, "window", Window(pixels=3))
        elif self.kinds is not None:
            raise UsageError(f"kinds of curvature go with the curvature product, "
                             f"not {self.product!r}")
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
        if self.z_sigma is not None:
            object.__setattr__(self, "z_sigma", ZSigma.parse(self.z_sigma))
            if self.product not in UNCERTAIN_PRODUCTS:
                raise UsageError(f"standard errors (--z-sigma, --uncertainty) go with "
                                 f"{', '.join(UNCERTAIN_PRODUCTS)}, not {self.product}")
            if self.z_sigma.fit and self.method != "quadratic":
                raise UsageError(
                    "--z-sigma fit estimates sigma from the window fit's residuals: give "
                    f"--window {FIT_SIGMA_WINDOW} or more (the {self.method} method has none)")
            if (self.z_sigma.fit and self.window.pixels is not None
                    and self.window.pixels < FIT_SIGMA_WINDOW):
                raise UsageError(
                    f"--z-sigma fit needs windows of {FIT_SIGMA_WINDOW} pixels or more "
                    f"(a {self.window.pixels} x {self.window.pixels} fit leaves "
                    f"{self.window.pixels ** 2 - 6} residual degrees of freedom)")

    @property
    def uncertainty(self) -> bool:
        """Whether standard errors are computed besides the product."""
        return self.z_sigma is not None

    @property
    def se_bands(self) -> tuple[str, ...]:
        """The band descriptions of the standard errors' file."""
        return tuple(f"{band} standard error" for band in self.bands)

    def with_sigma_factor(self, factor: float) -> Options:
        """These options with a sigma raster's metres per stored value."""
        return replace(self, z_sigma=replace(self.z_sigma, factor=float(factor)))

    def check_fit_window(self, geometry: PixelGeometry, rows: int) -> None:
        """Refuse ``--z-sigma fit`` where a window in metres is under 5 pixels."""
        if self.z_sigma is None or not self.z_sigma.fit:
            return
        shape = self.window_shape(geometry, rows)
        if shape.size and shape.min() < FIT_SIGMA_WINDOW:
            raise UsageError(
                f"--z-sigma fit needs windows of {FIT_SIGMA_WINDOW} pixels or more: window "
                f"{self.window} is {int(shape.min())} pixels along an axis of this grid")

    def uncertainty_tags(self, sigma_name: str | None = None) -> dict[str, str]:
        """Tags of the standard errors' file: what it holds and where sigma came from."""
        z = self.z_sigma
        tags = {
            "TERRAIN_UNCERTAINTY_OF": self.product,
            "TERRAIN_UNCERTAINTY": "standard error, first-order propagation of an "
                                   "uncorrelated vertical error",
            "TERRAIN_Z_SIGMA_SOURCE": z.source,
            "TERRAIN_UNCERTAINTY_NEAR_FLAT": NEAR_FLAT,
        }
        if z.fit:
            tags["TERRAIN_Z_SIGMA"] = "fit: sqrt(RSS / (n - 6)) of each window"
        elif z.raster is not None:
            tags["TERRAIN_Z_SIGMA"] = sigma_name or z.raster
            tags["TERRAIN_Z_SIGMA_METRES_PER_VALUE"] = repr(z.factor)
        else:
            tags["TERRAIN_Z_SIGMA"] = f"{z.metres!r} m"
        return tags

    @property
    def dtype(self) -> str:
        """Output data type: hillshade is gdaldem's Byte, the rest float32."""
        return "uint8" if self.product == "hillshade" else "float32"

    @property
    def nodata(self) -> float:
        return 0 if self.product == "hillshade" else NODATA

    @property
    def bands(self) -> tuple[str, ...]:
        """The band descriptions of the result: the product's, or the curvature kinds."""
        return self.kinds if self.product == "curvature" else PRODUCTS[self.product]

    @property
    def band_units(self) -> tuple[str, ...]:
        if self.product == "curvature":
            return tuple(CURVATURE_UNITS[kind] for kind in self.kinds)
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
        encoded: bool = False, dtype=np.float64, jobs: int = 1, sigma: np.ndarray | None = None,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Output bands of the ``inner`` part of a window read with its halo.

        One pass of the compiled kernel (:func:`terrain.core.fused`), shape
        (bands, rows, cols): ``dtype`` with NaN for nodata, or with
        ``encoded`` as the file stores them (:attr:`dtype`, :attr:`nodata`).
        With ``z_sigma``, (bands, standard errors); ``sigma`` is the sigma
        raster's window, read as ``z`` is.
        """
        extra = {}
        if self.z_sigma is not None:
            z_sigma, factor = self.z_sigma.kernel(sigma)
            extra = {"z_sigma": z_sigma, "sigma_factor": factor}
        return core.fused(
            z, valid, **geometry.kernel_args(self.method), edge_order=self.edge_order,
            window=self.window_shape(geometry, np.shape(z)[0]),
            method=self.method, z_factor=1.0 if self.z_factor is None else self.z_factor,
            product=self.product, units=self.units, azimuth=self.azimuth, altitude=self.altitude,
            dtype=self.dtype if encoded else dtype,
            nodata=self.nodata if encoded else np.nan, inner=inner, jobs=jobs, kinds=self.kinds,
            **extra,
        )
