"""Quick-look PNG pictures of result bands, coloured for a person to read.

One paletted band: index 0 is nodata (transparent), indices 1-255 a colour
ramp chosen for the kind of result. The ramps are embedded below, so that
matplotlib is never imported at runtime.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning

from terrain.errors import UsageError
from terrain.io import atomic_output
from terrain.units import hillshade_byte

__all__ = [
    "KINDS",
    "MAX_SIZE",
    "ROBUST_PERCENTILE",
    "palette_index",
    "preview_raster",
    "write_png",
]

#: What a picture can show, as typed by users.
KINDS = ("slope", "aspect", "hillshade", "gradient")

#: Longest side of a picture, pixels, unless the caller asks otherwise.
MAX_SIZE = 1024

#: Slope and gradient ramps end at this percentile of the valid values (of
#: their magnitude, for the gradient), so that a few cliffs or spikes don't
#: squeeze everything else into the first colours.
ROBUST_PERCENTILE = 99

# 255 colours each, as hex RGB, sampled once from matplotlib 3.11's colormaps
# (colormap(linspace(0, 1, 255)), bin centres for the cyclic one):
# viridis (Smith, van der Walt & Firing, 2015; CC0), twilight (Lambrecht, 2019,
# matplotlib's licence), RdBu_r (Brewer, colorbrewer2.org; Apache-style licence).
_VIRIDIS = (
    "440154 440256 450457 450559 46075a 46085c 460a5d 460b5e 470d60 470e61 471063 471164 "
    "471365 481467 481668 481769 48186a 481a6c 481b6d 481c6e 481d6f 481f70 482071 482173 "
    "482374 482475 482576 482677 482878 482979 472a7a 472c7a 472d7b 472e7c 472f7d 46307e "
    "46327e 46337f 463480 453581 453781 453882 443983 443a83 443b84 433d84 433e85 423f85 "
    "424086 424186 414287 414487 404588 404688 3f4788 3f4889 3e4989 3e4a89 3e4c8a 3d4d8a "
    "3d4e8a 3c4f8a 3c508b 3b518b 3b528b 3a538b 3a548c 39558c 39568c 38588c 38598c 375a8c "
    "375b8d 365c8d 365d8d 355e8d 355f8d 34608d 34618d 33628d 33638d 32648e 32658e 31668e "
    "31678e 31688e 30698e 306a8e 2f6b8e 2f6c8e 2e6d8e 2e6e8e 2e6f8e 2d708e 2d718e 2c718e "
    "2c728e 2c738e 2b748e 2b758e 2a768e 2a778e 2a788e 29798e 297a8e 297b8e 287c8e 287d8e "
    "277e8e 277f8e 27808e 26818e 26828e 26828e 25838e 25848e 25858e 24868e 24878e 23888e "
    "23898e 238a8d 228b8d 228c8d 228d8d 218e8d 218f8d 21918c 20928c 20928c 20938c 1f948c "
    "1f958b 1f968b 1f978b 1f988b 1f998a 1f9a8a 1e9b8a 1e9c89 1e9d89 1f9e89 1f9f88 1fa088 "
    "1fa188 1fa187 1fa287 20a386 20a486 21a585 21a685 22a785 22a884 23a983 24aa83 25ab82 "
    "25ac82 26ad81 27ad81 28ae80 29af7f 2ab07f 2cb17e 2db27d 2eb37c 2fb47c 31b57b 32b67a "
    "34b679 35b779 37b878 38b977 3aba76 3bbb75 3dbc74 3fbc73 40bd72 42be71 44bf70 46c06f "
    "48c16e 4ac16d 4cc26c 4ec36b 50c46a 52c569 54c568 56c667 58c765 5ac864 5cc863 5ec962 "
    "60ca60 63cb5f 65cb5e 67cc5c 69cd5b 6ccd5a 6ece58 70cf57 73d056 75d054 77d153 7ad151 "
    "7cd250 7fd34e 81d34d 84d44b 86d549 89d548 8bd646 8ed645 90d743 93d741 95d840 98d83e "
    "9bd93c 9dd93b a0da39 a2da37 a5db36 a8db34 aadc32 addc30 b0dd2f b2dd2d b5de2b b8de29 "
    "bade28 bddf26 c0df25 c2df23 c5e021 c8e020 cae11f cde11d d0e11c d2e21b d5e21a d8e219 "
    "dae319 dde318 dfe318 e2e418 e5e419 e7e419 eae51a ece51b efe51c f1e51d f4e61e f6e620 "
    "f8e621 fbe723 fde725 "
)

_TWILIGHT = (
    "e1d9e2 e0d9e2 dfd9e1 ded9e1 dcd9e0 dbd8df d9d8de d7d7dd d5d6dc d3d6db d1d5da ced3d9 "
    "ccd2d8 c9d1d7 c7d0d5 c4ced4 c1cdd3 beccd2 bbcad1 b8c9d0 b5c7cf b2c6ce afc4cd acc2cc "
    "a9c1cb a6bfca a3beca a0bcc9 9dbac8 9ab8c8 97b7c7 95b5c7 92b3c6 8fb1c6 8db0c5 8aaec5 "
    "88acc4 86aac4 84a8c4 81a6c3 7fa5c3 7da3c3 7ba1c2 799fc2 779dc2 769bc1 7499c1 7297c1 "
    "7195c0 6f93c0 6e91c0 6c8fbf 6b8dbf 6a8bbf 6989be 6887be 6785be 6683bd 6580bd 647ebc "
    "647cbc 637abb 6278bb 6276ba 6173ba 6171b9 616fb9 606db8 606ab7 6068b6 6066b6 5f64b5 "
    "5f61b4 5f5fb3 5f5db2 5f5ab1 5f58b0 5f55af 5e53ae 5e51ad 5e4eab 5e4caa 5e49a9 5e47a7 "
    "5e45a6 5d42a4 5d40a2 5d3da1 5d3b9f 5c389d 5c369b 5c3499 5b3196 5b2f94 5a2d92 592a8f "
    "59288d 58268a 572487 562284 552081 541e7e 531d7a 511b77 501a74 4f1970 4d176d 4c1669 "
    "4a1566 481563 47145f 45135c 431359 411256 401253 3e1150 3d114d 3b114a 3a1148 381145 "
    "371143 361141 34113f 33113d 32123b 31123a 301338 2f1436 311337 321237 331237 341238 "
    "361138 371139 39113a 3a113a 3c113b 3e113c 40123d 42123e 44123f 471340 491341 4b1342 "
    "4e1443 501444 531545 561546 581647 5b1648 5d1749 60184a 63184b 65194c 681a4d 6b1b4d "
    "6d1b4e 701c4e 721d4f 751e4f 781f4f 7a2050 7d2150 7f2350 812450 842550 862750 882850 "
    "8b2a50 8d2b50 8f2d50 912f50 933050 953250 973450 993650 9b3850 9d3a50 9f3c50 a03e50 "
    "a24050 a44250 a54450 a74650 a94850 aa4a50 ac4c50 ad4e51 af5151 b05351 b15552 b35752 "
    "b45a53 b55c54 b65e54 b86155 b96356 ba6557 bb6857 bc6a58 bd6c5a be6f5b bf715c c0745d "
    "c0765f c17960 c27b62 c37d63 c48065 c48267 c58569 c6876b c68a6d c78c6f c78f72 c89174 "
    "c89477 c99679 ca997c ca9b7f cb9d82 cba085 cca287 cca58b cda78e cea991 ceac94 cfae97 "
    "d0b09b d0b39e d1b5a1 d2b7a5 d3b9a8 d4bcac d4beaf d5c0b3 d6c2b6 d7c4b9 d8c6bd d9c8c0 "
    "dacac3 dbcbc6 dccdca dccfcd ddd0cf ded2d2 ded3d4 dfd4d7 e0d6d9 e0d7da e1d7dc e1d8de "
    "e2d8df e2d9e1 e2d9e2 "
)

_RDBU_R = (
    "053061 063264 073467 08366a 09386d 0a3b70 0c3d73 0d3f76 0e4179 0f437b 10457e 114781 "
    "124984 134c87 144e8a 15508d 175290 185493 195696 1a5899 1b5a9c 1c5c9f 1d5fa2 1e61a5 "
    "1f63a8 2065ab 2267ac 2369ad 246aae 266caf 276eb0 2870b1 2a71b2 2b73b3 2c75b4 2e77b5 "
    "2f79b5 307ab6 327cb7 337eb8 3480b9 3681ba 3783bb 3885bc 3a87bd 3b88be 3c8abe 3e8cbf "
    "3f8ec0 408fc1 4291c2 4393c3 4695c4 4997c5 4c99c6 4f9bc7 529dc8 569fc9 59a1ca 5ca3cb "
    "5fa5cd 62a7ce 65a9cf 68abd0 6bacd1 6eaed2 71b0d3 75b2d4 78b4d5 7bb6d6 7eb8d7 81bad8 "
    "84bcd9 87beda 8ac0db 8dc2dc 90c4dd 93c6de 96c7df 98c8e0 9bc9e0 9dcbe1 a0cce2 a2cde3 "
    "a5cee3 a7d0e4 a9d1e5 acd2e5 aed3e6 b1d5e7 b3d6e8 b6d7e8 b8d8e9 bbdaea bddbea c0dceb "
    "c2ddec c5dfec c7e0ed cae1ee cce2ef cfe4ef d1e5f0 d2e6f0 d4e6f1 d5e7f1 d7e8f1 d8e9f1 "
    "dae9f2 dbeaf2 ddebf2 deebf2 e0ecf3 e1edf3 e3edf3 e4eef4 e6eff4 e7f0f4 e9f0f4 eaf1f5 "
    "ecf2f5 edf2f5 eff3f5 f0f4f6 f2f5f6 f3f5f6 f5f6f7 f7f6f6 f7f5f4 f8f4f2 f8f3f0 f8f2ef "
    "f8f1ed f9f0eb f9efe9 f9eee7 f9ede5 f9ebe3 faeae1 fae9df fae8de fae7dc fbe6da fbe5d8 "
    "fbe4d6 fbe3d4 fce2d2 fce0d0 fcdfcf fcdecd fdddcb fddcc9 fddbc7 fdd9c4 fcd7c2 fcd5bf "
    "fcd3bc fbd0b9 fbceb7 fbccb4 facab1 fac8af f9c6ac f9c4a9 f9c2a7 f8bfa4 f8bda1 f8bb9e "
    "f7b99c f7b799 f7b596 f6b394 f6b191 f6af8e f5ac8b f5aa89 f5a886 f4a683 f3a481 f2a17f "
    "f19e7d f09c7b ef9979 ee9677 ec9374 eb9172 ea8e70 e98b6e e8896c e6866a e58368 e48066 "
    "e37e64 e27b62 e17860 df765e de735c dd7059 dc6e57 db6b55 da6853 d86551 d7634f d6604d "
    "d55d4c d35a4a d25849 d05548 cf5246 ce4f45 cc4c44 cb4942 c94741 c84440 c6413e c53e3d "
    "c43b3c c2383a c13639 bf3338 be3036 bd2d35 bb2a34 ba2832 b82531 b72230 b61f2e b41c2d "
    "b3192c b1182b ae172a ab162a a81529 a51429 a21328 9f1228 9c1127 991027 960f27 930e26 "
    "900d26 8d0c25 8a0b25 870a24 840924 810823 7f0823 7c0722 790622 760521 730421 700320 "
    "6d0220 6a011f 67001f "
)


def _ramp(hexes: str) -> list[tuple[int, int, int]]:
    return [tuple(bytes.fromhex(h)) for h in hexes.split()]


_RAMPS = {
    "slope": _ramp(_VIRIDIS),
    "aspect": _ramp(_TWILIGHT),
    "hillshade": [(k, k, k) for k in range(1, 256)],
    "gradient": _ramp(_RDBU_R),
}


def palette_index(band: np.ndarray, kind: str) -> np.ndarray:
    """Palette indices (uint8) of a band: 0 for NaN, 1-255 along the kind's ramp.

    - ``slope``: viridis from 0 to the :data:`ROBUST_PERCENTILE` of the valid
      values (any units); steeper pixels take the last colour.
    - ``aspect``: the cyclic twilight ramp over compass degrees [0, 360):
      north is pale, east blue, south dark, west red.
    - ``hillshade``: grey levels, gdaldem's 1-255 as they are.
    - ``gradient``: one signed band (dz/dx or dz/dy) on a diverging ramp,
      blue below 0 and red above, symmetric to the percentile of ``|value|``.

    >>> palette_index(np.array([[0.0, 90.0, 180.0, 359.9, np.nan]]), "aspect")
    array([[  1,  64, 128, 255,   0]], dtype=uint8)
    """
    if kind not in KINDS:
        raise UsageError(f"unknown picture kind {kind!r}: choose one of {', '.join(KINDS)}")
    band = np.asarray(band, dtype=np.float64)
    if kind == "hillshade":
        return hillshade_byte(np.clip(band, 1.0, 255.0))
    valid = ~np.isnan(band)
    if not valid.any():
        return np.zeros(band.shape, dtype=np.uint8)
    values = band[valid]
    if kind == "aspect":
        position = (values % 360.0) / 360.0 * 255.0  # bins of 360/255 degrees
        step = np.minimum(np.floor(position), 254.0)
    else:
        signed = kind == "gradient"
        top = np.percentile(np.abs(values) if signed else values, ROBUST_PERCENTILE)
        scaled = values / top if top > 0 else np.zeros_like(values)
        if signed:
            scaled = (scaled + 1.0) / 2.0
        step = np.rint(np.clip(scaled, 0.0, 1.0) * 254.0)
    index = np.zeros(band.shape, dtype=np.uint8)
    index[valid] = 1 + step.astype(np.uint8)
    return index


def write_png(
    path: str | os.PathLike, band: np.ndarray, kind: str, max_size: int = MAX_SIZE,
    *, overwrite: bool = False,
) -> None:
    """Write a colour picture of ``band`` (NaN = nodata) to the PNG ``path``.

    Rasters longer than ``max_size`` pixels are decimated by a whole stride
    (every n-th pixel of every n-th row), not averaged, so that aspects and
    nodata stay what they are. Colours follow :func:`palette_index`; nodata
    is transparent (alpha 0 in the colour table). The PNG is written to a
    temporary file beside ``path`` and renamed into place when complete. It
    carries no georeferencing: it is a picture, not data.
    """
    if max_size < 1:
        raise UsageError(f"picture size must be at least 1 pixel, not {max_size}")
    band = np.asarray(band)
    if band.ndim != 2:
        raise UsageError(f"a picture needs a 2-D band, got {band.ndim} dimensions")
    stride = -(-max(band.shape) // max_size)
    index = palette_index(band[::stride, ::stride], kind)
    colours = {0: (0, 0, 0, 0)}
    colours.update({i: (*rgb, 255) for i, rgb in enumerate(_RAMPS[kind], 1)})
    profile = {"driver": "PNG", "width": index.shape[1], "height": index.shape[0],
               "count": 1, "dtype": "uint8"}
    # No sidecar .aux.xml beside the temporary file; a PNG has no CRS to warn about.
    with warnings.catch_warnings(), rasterio.Env(GDAL_PAM_ENABLED="NO"):
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with (atomic_output(path, overwrite=overwrite) as tmp,
              rasterio.open(tmp, "w", **profile) as dst):
            dst.write(index, 1)
            dst.write_colormap(1, colours)


def preview_raster(
    raster: str | os.PathLike, path: str | os.PathLike, kind: str, max_size: int = MAX_SIZE,
    *, overwrite: bool = False,
) -> None:
    """Write the picture of band 1 of a result file, read decimated.

    Only about ``max_size``² pixels are read, whatever the raster's size.
    """
    with rasterio.open(raster) as src:
        stride = max(1, -(-max(src.shape) // max_size))
        shape = (-(-src.height // stride), -(-src.width // stride))
        band = src.read(1, out_shape=shape, masked=True).astype(np.float64).filled(np.nan)
    if kind == "hillshade":
        band[band == 0] = np.nan
    write_png(path, band, kind, max_size, overwrite=overwrite)
