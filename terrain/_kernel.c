/*
 * terrain._kernel: the one gradient kernel behind terrain.core, compiled ahead
 * of time when terrain is installed.
 *
 * One pass per block, row by row, from elevations (and their validity) to the
 * output bands:
 *
 * - the gradient, by numpy.gradient's scheme (central differences inside,
 *   one-sided of order edge_order at the ends and next to holes, with its
 *   coefficients for coordinate arrays) or by Horn's 3x3 stencil with
 *   gdaldem's fills;
 * - its conversion to metres east and north (a parallel radius per row on
 *   lat/lon grids, the inverse-transposed Jacobian on rotated grids);
 * - the product (gradient, slope, aspect, hillshade);
 * - its encoding (float32 or float64 with a nodata value, or gdaldem's Byte).
 *
 * Every operation is the IEEE operation numpy performs, in the order numpy
 * performs it: build with -ffp-contract=off (no fused multiply-add) and
 * without -ffast-math (setup.py). On hole-free data the central gradient
 * equals numpy.gradient of the float64 array bit for bit; tests/ hold numpy
 * as the reference.
 *
 * The GIL is released while a call computes, so callers split the rows of a
 * block among threads (terrain.core.fused).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { GRADIENT, SLOPE, ASPECT, HILLSHADE };  /* terrain.core.PRODUCTS */
enum { RATIO, PERCENT, DEGREES, RADIANS };    /* terrain.units.SLOPE_UNITS */
enum { CENTRAL, HORN, QUADRATIC };           /* terrain.core.METHODS */
enum { OUT_F64, OUT_F32, OUT_U8 };

typedef Py_ssize_t idx;

/* The loops over whole rows: kept out of line (GCC's guess otherwise finds them
 * cold and leaves them scalar), and built twice on x86-64 Linux, for AVX2 and
 * for any CPU, the best chosen when the module loads (an ifunc). AVX2 is not
 * FMA: no fused multiply-add either way. */
#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define HOT __attribute__((noinline, target_clones("avx2", "default")))
#endif
#endif
#ifndef HOT
#if defined(__GNUC__)
#define HOT __attribute__((noinline))
#else
#define HOT
#endif
#endif

/* numpy's degrees(): x * (180 / pi) */
static const double DEGREES_PER_RADIAN = 180.0 / 3.14159265358979323846;

typedef struct {
    const void *z;                /* elevations, n x m, float32 or float64 */
    int z_f32;
    idx n, m;
    double z_factor;              /* metres per stored value */
    /* Which pixels hold data: all of them unless one of these says otherwise */
    const unsigned char *mask;    /* n x m, nonzero where data, or NULL */
    int has_nodata;               /* the stored value z_nodata marks nodata */
    double z_nodata;
    int finite;                   /* non-finite values are nodata */
    int holes;                    /* any of the three */
    int method, edge_order;
    double row_h, col_h;          /* uniform steps (central) */
    const double *row_x, *col_x;  /* or coordinates (central), NULL if uniform */
    const double *row_step, *col_step;  /* Horn's local steps, n and m of them */
    const double *col_scale;      /* per row divisor of d/dcol, or NULL */
    const double *jac;            /* inverse-transposed Jacobian (4), or NULL */
    int kind, units;
    double light[4];              /* sin az, cos az, sin alt, cos alt */
    int out_type;
    double nodata;
    void *out;                    /* bands x out_rows x (c1 - c0) */
    idx out_rows;
    double *ra, *rb, *rc, *ca, *cb, *cc;  /* numpy's interior coefficients */
    const int *win;               /* quadratic: n x 2, each row's window (rows, columns) */
} Kernel;

/* The rows the stencils reach (i-2 .. i+2, or a window's rows) of the
 * elevations in float64 metres and their validity, each converted once. */
typedef struct {
    const Kernel *k;
    double *ring;                 /* size rows of m values */
    unsigned char *ring_ok;       /* size rows of m flags: 1 where data */
    idx *slot_row;                /* size of them */
    int *slot_full;               /* every pixel in [lo, hi) holds data */
    int size;                     /* rows held: 5, or a window's rows if more */
    idx lo, hi;                   /* the columns converted */
} Rows;

HOT static void convert(Rows *R, idx r, int slot)
{
    const Kernel *k = R->k;
    double *dst = R->ring + slot * k->m, zf = k->z_factor;
    unsigned char *okr = R->ring_ok + slot * k->m;
    idx lo = R->lo, hi = R->hi;
    /* branch-free, to vectorise: v != NaN always holds, v - v == 0 only for finite v */
    unsigned char any = !k->finite;
    if (k->z_f32) {
        const float *src = (const float *)k->z + r * k->m;
        float nodata = k->has_nodata ? (float)k->z_nodata : NAN;  /* compared as stored */
        for (idx c = lo; c < hi; c++) {
            float v = src[c];
            dst[c] = (double)v * zf;
            okr[c] = (v != nodata) & ((v - v == 0.0f) | any);
        }
    } else {
        const double *src = (const double *)k->z + r * k->m;
        double nodata = k->has_nodata ? k->z_nodata : NAN;
        for (idx c = lo; c < hi; c++) {
            double v = src[c];
            dst[c] = v * zf;
            okr[c] = (v != nodata) & ((v - v == 0.0) | any);
        }
    }
    if (k->mask) {
        const unsigned char *mask = k->mask + r * k->m;
        for (idx c = lo; c < hi; c++)
            okr[c] &= mask[c] != 0;
    }
    R->slot_full[slot] = !memchr(okr + lo, 0, (size_t)(hi - lo));
}

static inline int slot_of(Rows *R, idx r)
{
    int slot = (int)(r % R->size);
    if (R->slot_row[slot] != r) {
        convert(R, r, slot);
        R->slot_row[slot] = r;
    }
    return slot;
}

static inline const double *row_of(Rows *R, idx r)
{
    return R->ring + slot_of(R, r) * R->k->m;
}

#define V(R, r, c) (row_of((R), (r))[(c)])

/* Whether (r, c) holds data; (r, c) inside the array. */
static inline int holds(Rows *R, idx r, idx c)
{
    if (!R->k->holes)
        return 1;
    int slot = slot_of(R, r);
    return R->slot_full[slot] || R->ring_ok[slot * R->k->m + c];
}

/* Whether (r, c) is inside the array and holds data. */
static inline int ok(Rows *R, idx r, idx c)
{
    if (r < 0 || r >= R->k->n || c < 0 || c >= R->k->m)
        return 0;
    return holds(R, r, c);
}

/* ---- central differences: numpy.gradient's stencils, holes as borders ---- */

/* Derivative at (i, j) along the axis of step (di, dj); p is the index on it. */
static double central(Rows *R, idx i, idx j, int di, int dj, idx p, double h,
                      const double *x, const double *a, const double *b, const double *c)
{
    const Kernel *k = R->k;
    double f0 = V(R, i, j);
    int okm1 = ok(R, i - di, j - dj), okp1 = ok(R, i + di, j + dj);
    if (okm1 && okp1) {
        double fm1 = V(R, i - di, j - dj), fp1 = V(R, i + di, j + dj);
        if (!x)
            return (fp1 - fm1) / (2.0 * h);
        if (fm1 == f0 && fp1 == f0)
            return 0.0;  /* a + b + c is 0 only up to rounding: flat stays flat */
        return a[p] * fm1 + b[p] * f0 + c[p] * fp1;
    }
    if (okp1) {
        double fp1 = V(R, i + di, j + dj);
        if (k->edge_order == 2 && ok(R, i + 2 * di, j + 2 * dj)) {
            double fp2 = V(R, i + 2 * di, j + 2 * dj);
            if (fp1 == f0 && fp2 == f0)
                return 0.0;
            if (!x)
                return (-1.5 / h) * f0 + (2.0 / h) * fp1 + (-0.5 / h) * fp2;
            double d1 = x[p + 1] - x[p], d2 = x[p + 2] - x[p + 1];
            return (-(2.0 * d1 + d2) / (d1 * (d1 + d2))) * f0
                   + ((d1 + d2) / (d1 * d2)) * fp1
                   + (-d1 / (d2 * (d1 + d2))) * fp2;
        }
        return (fp1 - f0) / (x ? x[p + 1] - x[p] : h);
    }
    if (okm1) {
        double fm1 = V(R, i - di, j - dj);
        if (k->edge_order == 2 && ok(R, i - 2 * di, j - 2 * dj)) {
            double fm2 = V(R, i - 2 * di, j - 2 * dj);
            if (fm1 == f0 && fm2 == f0)
                return 0.0;
            if (!x)
                return (0.5 / h) * fm2 + (-2.0 / h) * fm1 + (1.5 / h) * f0;
            double d1 = x[p - 1] - x[p - 2], d2 = x[p] - x[p - 1];
            return (d2 / (d1 * (d1 + d2))) * fm2
                   + (-(d2 + d1) / (d1 * d2)) * fm1
                   + ((2.0 * d2 + d1) / (d2 * (d1 + d2))) * f0;
        }
        return (f0 - fm1) / (x ? x[p] - x[p - 1] : h);
    }
    return NAN;
}

/* numpy.gradient's interior coefficients for coordinates x (n of them). */
static void coefficients(const double *x, idx n, double *a, double *b, double *c)
{
    for (idx p = 1; p < n - 1; p++) {
        double dx1 = x[p] - x[p - 1], dx2 = x[p + 1] - x[p];
        a[p] = -(dx2) / (dx1 * (dx1 + dx2));
        b[p] = (dx2 - dx1) / (dx1 * dx2);
        c[p] = dx1 / (dx2 * (dx1 + dx2));
    }
}

/* ---- Horn: gdaldem's 3x3 stencil and its fills ---- */

/* Elevation at (r, c), NaN for nodata. */
static inline double value(Rows *R, idx r, idx c)
{
    return holds(R, r, c) ? V(R, r, c) : NAN;
}

/* Row r in [-1, n] at column c: rows outside are 2a - b (GDAL's INTERPOL). */
static double rows_extended(Rows *R, idx r, idx c)
{
    idx n = R->k->n;
    if (r == -1)
        return 2.0 * value(R, 0, c) - value(R, 1, c);
    if (r == n)
        return 2.0 * value(R, n - 1, c) - value(R, n - 2, c);
    return value(R, r, c);
}

/* Pixel (r, c) in [-1, n] x [-1, m]: columns outside are 2a - b of the
 * row-extended raster or, on gdaldem's first and last rows (repeat_edge), the
 * edge column repeated. */
static double extended(Rows *R, idx r, idx c, int repeat_edge)
{
    idx m = R->k->m;
    if (c == -1 || c == m) {
        idx edge = c == -1 ? 0 : m - 1, next = c == -1 ? 1 : m - 2;
        double a = rows_extended(R, r, edge);
        return repeat_edge ? a : 2.0 * a - rows_extended(R, r, next);
    }
    return rows_extended(R, r, c);
}

/* Horn's weighted sums of a 3x3 window (rows run south). The positive and
 * negative halves are summed apart, in the same order, so flat gives 0. */
static inline void horn_sums(double nw, double n, double ne, double w, double e,
                             double sw, double s, double se, double *d_row, double *d_col)
{
    *d_row = ((0.0 + sw) + 2.0 * s + se) - ((0.0 + nw) + 2.0 * n + ne);
    *d_col = ((0.0 + ne) + 2.0 * e + se) - ((0.0 + nw) + 2.0 * w + sw);
}

/* Horn's sums at (i, j), every rule: a missing neighbour takes the centre's
 * value, a missing centre gives NaN. */
static void horn(Rows *R, idx i, idx j, double *d_row, double *d_col)
{
    idx n = R->k->n, m = R->k->m;
    double centre = value(R, i, j), t[3][3];
    if (isnan(centre)) {
        *d_row = *d_col = NAN;
        return;
    }
    int inside = 1 <= i && i < n - 1 && 1 <= j && j < m - 1;
    int repeat_edge = i == 0 || i == n - 1;
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) {
            double v = inside ? value(R, i - 1 + a, j - 1 + b)
                              : extended(R, i - 1 + a, j - 1 + b, repeat_edge);
            t[a][b] = isnan(v) ? centre : v;
        }
    horn_sums(t[0][0], t[0][1], t[0][2], t[1][0], t[1][2], t[2][0], t[2][1], t[2][2],
              d_row, d_col);
}

/* ---- one row of derivatives ---- */

/* Whether rows r0:r1, columns c0:c1 all hold data. */
static int all_valid(Rows *R, idx r0, idx r1, idx c0, idx c1)
{
    if (!R->k->holes)
        return 1;
    for (idx r = r0; r < r1; r++) {
        int slot = slot_of(R, r);
        if (!R->slot_full[slot]
            && memchr(R->ring_ok + slot * R->k->m + c0, 0, (size_t)(c1 - c0)))
            return 0;
    }
    return 1;
}

/* (d/drow, d/dcol) at one pixel, by every rule: borders, holes, Horn. */
static void pixel(Rows *R, idx i, idx j, double *d_row, double *d_col)
{
    const Kernel *k = R->k;
    if (!holds(R, i, j)) {
        *d_row = *d_col = NAN;
        return;
    }
    if (k->method == CENTRAL) {
        *d_row = central(R, i, j, 1, 0, i, k->row_h, k->row_x, k->ra, k->rb, k->rc);
        *d_col = central(R, i, j, 0, 1, j, k->col_h, k->col_x, k->ca, k->cb, k->cc);
        return;
    }
    double sr, sc;
    horn(R, i, j, &sr, &sc);
    *d_row = sr / (8.0 * k->row_step[i]);
    *d_col = sc / (8.0 * k->col_step[j]);
}

/* d/drow and d/dcol of row i, columns c0:c1, into d_row[0:], d_col[0:]. */
HOT static void derivatives(Rows *R, idx i, idx c0, idx c1, double *d_row, double *d_col)
{
    const Kernel *k = R->k;
    idx n = k->n, m = k->m;
    int uniform = k->method == CENTRAL && !k->row_x && !k->col_x;
    /* the interior columns, where every stencil has both neighbours */
    idx j0 = c0 > 1 ? c0 : 1, j1 = c1 < m - 1 ? c1 : m - 1;
    int fast = (uniform || k->method == HORN) && 1 <= i && i < n - 1 && j0 < j1
               && all_valid(R, i - 1, i + 2, j0 - 1, j1 + 1);
    if (fast) {
        const double *above = row_of(R, i - 1), *row = row_of(R, i), *below = row_of(R, i + 1);
        double *dr = d_row - c0, *dc = d_col - c0;
        if (uniform) {
            /* the common case: whole rows of data, a loop the compiler vectorises */
            double two_h_row = 2.0 * k->row_h, two_h_col = 2.0 * k->col_h;
            for (idx j = j0; j < j1; j++) {
                dr[j] = (below[j] - above[j]) / two_h_row;
                dc[j] = (row[j + 1] - row[j - 1]) / two_h_col;
            }
        } else {
            double eight_row = 8.0 * k->row_step[i];
            for (idx j = j0; j < j1; j++) {
                double sr, sc;
                horn_sums(above[j - 1], above[j], above[j + 1], row[j - 1], row[j + 1],
                          below[j - 1], below[j], below[j + 1], &sr, &sc);
                if (isnan(sr) || isnan(sc) || isnan(row[j]))
                    horn(R, i, j, &sr, &sc);  /* NaN elevations: the full rules */
                dr[j] = sr / eight_row;
                dc[j] = sc / (8.0 * k->col_step[j]);
            }
        }
    }
    /* the rest: the whole row, or the columns at the raster's left and right ends */
    idx skip_from = fast ? j0 : c1, skip_to = fast ? j1 : c1;
    for (idx j = c0; j < skip_from; j++)
        pixel(R, i, j, &d_row[j - c0], &d_col[j - c0]);
    for (idx j = skip_to; j < c1; j++)
        pixel(R, i, j, &d_row[j - c0], &d_col[j - c0]);
}

/* ---- least-squares quadratic over a window: Evans-Young, Wood (1996) ---- */

/*
 * z = a x^2 + b y^2 + c xy + d x + e y + f, fitted by least squares to the
 * valid pixels of each pixel's window, x and y their offsets from that pixel:
 * dz/dx = d and dz/dy = e there (Evans 1980; Wood 1996, any window size).
 *
 * Offsets are in steps of the pixel's own grid. A column step is x = 1; on
 * lat/lon grids window row k's is x = P_k / P_i (its parallel radius over
 * the pixel's), so that x is the true east offset in units of the pixel's
 * column length. A row step is y = 1, or with row coordinates (lat/lon:
 * metres along the meridian) y = (row_x[k] - row_x[i]) / hy, hy the window's
 * mean row step. d / col_h and e / hy are then the derivatives along the
 * column and row coordinates that the other estimators give (run() turns
 * them into metres east and north): the fit is invariant under a linear map
 * of the plane, so a fit in steps is the fit in metres.
 *
 * Pixel (i, j)'s window has win[i] rows and columns (the whole axis if that
 * is shorter), moved inward where it would cross the array's edge: the
 * pixel is then off its centre. Callers pass the rows and columns the
 * windows reach (terrain.core.context), so an array's edge is the raster's.
 *
 * Separable sums, in a fixed order, never running sums: for each window row
 * k and output column j, over the columns of j's window,
 *   Z_p(k, j) = sum over l of l^p v     (p = 0, 1, 2; v the elevation, 0 at nodata)
 *   H_p(k, j) = sum over l of l^p ok    (p = 0 .. 4; on rows with nodata)
 * l = column - j; then sums over the window's rows weighted by s_k^p y_k^q
 * give the 15 moments of the normal matrix and the 6 of the right side.
 *
 * Three ways to a pixel, each chosen from the pixel's own window and the
 * grid alone, so that every block, tile and chunk gives it the same bits:
 *  A. a whole window centred on the pixel, s = 1, y = row offset (projected
 *     grids): d and e decouple, d = sum x z / sum x^2 = sum_k Z_1 / (wr S_2),
 *     e = sum y z / sum y^2 (3x3: Evans's (right column - left column) / 6h);
 *  B. a whole window centred on the pixel's column (lat/lon grids; rows at
 *     the raster's top and bottom): by symmetry in x, d = sum_k wp_k Z_1 and
 *     e = sum_k (wq2_k Z_2 + wq0_k Z_0), weights solved once per output row;
 *  C. any other window (nodata in it, columns at the raster's sides): the
 *     6x6 normal equations, scaled to a unit diagonal and solved by Cholesky.
 *     Fewer than 6 valid pixels, or a pivot below QUAD_TOL (the valid pixels
 *     lie on one conic: two rows, two columns, a line, a circle...), do not
 *     determine the quadratic: the pixel takes the central differences. That
 *     is decided on the pattern of valid pixels (the normal matrix in whole
 *     pixel offsets, exact), not in metres: on lat/lon grids each row's x scale
 *     differs by a hair, which leaves two columns of pixels barely determined
 *     and their fit wild, however fine the tolerance.
 * Flat ground stays flat: A gives exactly 0 (sums of differences); B and C
 * check a window whose fit is within rounding of flat for one value.
 */

#define QUAD_TOL 1e-10  /* scaled pivots: 1e-15 when degenerate, over 1e-6 when not */
#define FLAT_TOL 1e-9   /* a fit this near flat (times |z|, per step) is checked */

/* The monomials x^p y^q with p + q <= 4, by degree: mono(p, q) is the index. */
static const int MP[15] = {0, 1, 0, 2, 1, 0, 3, 2, 1, 0, 4, 3, 2, 1, 0};
static const int MQ[15] = {0, 0, 1, 0, 1, 2, 0, 1, 2, 3, 0, 1, 2, 3, 4};
static inline int mono(int p, int q) { return (p + q) * (p + q + 1) / 2 + q; }

/* The fit's basis x^2, y^2, xy, x, y, 1, as exponents. */
static const int BP[6] = {2, 0, 1, 1, 0, 0};
static const int BQ[6] = {0, 2, 1, 0, 1, 0};
enum { COEF_X = 3, COEF_Y = 4 };

enum { HAVE_Z01 = 1, HAVE_Z2 = 2 };

typedef struct {
    Rows *R;
    idx c0, width;          /* the output columns */
    double *zs;             /* size x 3 x width: Z_0, Z_1, Z_2 of each ring row */
    double *hs;             /* size x 5 x width: H_0 .. H_4 of ring rows with nodata */
    idx *row;               /* per slot: the row the sums are of, -1 for none */
    int *sums_wc;           /* per slot: the window columns they were made with */
    unsigned char *have;    /* per slot: HAVE_Z01 | HAVE_Z2 */
    double *tmpl;           /* 5 x width: H_p of a whole window of tmpl_wc columns */
    int tmpl_wc;
    double *v;              /* m: a row's elevations, 0 at nodata */
    /* the output row being computed */
    idx ri;                 /* its window's first row */
    int wr, wc;             /* its window's rows and columns */
    double hy;              /* a row step y = 1 is hy row coordinates */
    int *slot;              /* per window row: its ring slot */
    double *y, *s;          /* per window row: offset and x scale */
    double *wp, *wq2, *wq0; /* per window row: way B's weights */
    double *wm;             /* per window row: s^p y^q of the 15 monomials (way C) */
    double *wi;             /* per window row: v^q, v its whole row offset (way C) */
    int metric;             /* s or y are not whole pixel offsets (lat/lon, row_x) */
    int wm_ready;
} Quad;

static inline double *zsum(const Quad *Q, int slot, int p)
{
    return Q->zs + ((size_t)slot * 3 + (size_t)p) * (size_t)Q->width;
}

static inline double *hsum(const Quad *Q, int slot, int p)
{
    return Q->hs + ((size_t)slot * 5 + (size_t)p) * (size_t)Q->width;
}

/* Offsets [lo, hi] from column j of its window of wc columns in m. */
static inline void span(idx j, int wc, idx m, idx *lo, idx *hi)
{
    idx first = j - wc / 2;
    if (first > m - wc)
        first = m - wc;
    if (first < 0)
        first = 0;
    *lo = first - j;
    *hi = first + wc - 1 - j;
}

/* The output columns [*a, *b) whose windows are centred on them. */
static void centred_columns(const Quad *Q, idx *a, idx *b)
{
    idx m = Q->R->k->m, c1 = Q->c0 + Q->width, kc = Q->wc / 2;
    *a = *b = c1;
    if (Q->wc & 1) {
        *a = Q->c0 > kc ? Q->c0 : kc;
        *b = c1 < m - kc ? c1 : m - kc;
        if (*a > *b)
            *a = *b;
    }
}

/* Whether ring slot's row holds data in every converted column. */
static inline int whole(const Quad *Q, int slot)
{
    return !Q->R->k->holes || Q->R->slot_full[slot];
}

/* sum l^p over [lo, hi], p = 0 .. 4, of the columns that hold data. */
static void moments_of(const unsigned char *ok, idx j, idx lo, idx hi, double *h)
{
    double h0 = 0.0, h1 = 0.0, h2 = 0.0, h3 = 0.0, h4 = 0.0;
    for (idx l = lo; l <= hi; l++) {
        if (ok && !ok[j + l])
            continue;
        double d = (double)l, d2 = d * d;
        h0 += 1.0;
        h1 += d;
        h2 += d2;
        h3 += d2 * d;
        h4 += d2 * d2;
    }
    h[0] = h0, h[1] = h1, h[2] = h2, h[3] = h3, h[4] = h4;
}

/* Z_0, Z_1 (and Z_2) of column j from v, offsets [lo, hi]. */
static void moved_sums(const double *v, idx j, idx lo, idx hi, double *z0, double *z1,
                       double *z2)
{
    idx reach = hi > -lo ? hi : -lo;
    if (z0) {
        double s0 = v[j], s1 = 0.0;
        for (idx l = 1; l <= reach; l++) {
            double up = l <= hi ? v[j + l] : 0.0, down = l <= -lo ? v[j - l] : 0.0;
            s0 += down + up;
            s1 += (double)l * (up - down);
        }
        *z0 = s0, *z1 = s1;
    }
    if (z2) {
        double s2 = 0.0;
        for (idx l = 1; l <= reach; l++) {
            double up = l <= hi ? v[j + l] : 0.0, down = l <= -lo ? v[j - l] : 0.0;
            s2 += (double)(l * l) * (up + down);
        }
        *z2 = s2;
    }
}

/* The horizontal sums `need` of ring slot's row for the current window width. */
HOT static void horizontal(Quad *Q, int slot, int need)
{
    const Kernel *k = Q->R->k;
    idx m = k->m, c0 = Q->c0, c1 = c0 + Q->width, kc = Q->wc / 2, a, b;
    const double *z = Q->R->ring + (size_t)slot * (size_t)m;
    const unsigned char *ok = Q->R->ring_ok + (size_t)slot * (size_t)m;
    const double *v = z;
    int full = whole(Q, slot);
    if (!full) {
        double *w = Q->v;
        for (idx c = Q->R->lo; c < Q->R->hi; c++)
            w[c] = ok[c] ? z[c] : 0.0;
        v = w;
    }
    centred_columns(Q, &a, &b);
    double *z0 = zsum(Q, slot, 0) - c0, *z1 = zsum(Q, slot, 1) - c0, *z2 = zsum(Q, slot, 2) - c0;
    if (need & HAVE_Z01) {
        /* the centred columns, in loops the compiler vectorises, a pair of
         * columns l and -l a pass: sum v, and sum l v as sums of differences */
        for (idx j = a; j < b; j++) {
            z0[j] = v[j];
            z1[j] = 0.0;
        }
        for (idx l = 1; l <= kc; l++) {
            double dl = (double)l;
            for (idx j = a; j < b; j++) {
                z0[j] += v[j - l] + v[j + l];
                z1[j] += dl * (v[j + l] - v[j - l]);
            }
        }
        for (idx j = c0; j < c1; j++) {
            if (j == a)
                j = b;
            if (j >= c1)
                break;
            idx lo, hi;
            span(j, Q->wc, m, &lo, &hi);
            moved_sums(v, j, lo, hi, &z0[j], &z1[j], NULL);
        }
        if (!full)
            for (idx j = c0; j < c1; j++) {
                idx lo, hi;
                double h[5];
                span(j, Q->wc, m, &lo, &hi);
                moments_of(ok, j, lo, hi, h);
                for (int p = 0; p < 5; p++)
                    hsum(Q, slot, p)[j - c0] = h[p];
            }
    }
    if (need & HAVE_Z2) {
        for (idx j = a; j < b; j++)
            z2[j] = 0.0;
        for (idx l = 1; l <= kc; l++) {
            double dl2 = (double)(l * l);
            for (idx j = a; j < b; j++)
                z2[j] += dl2 * (v[j + l] + v[j - l]);
        }
        for (idx j = c0; j < c1; j++) {
            if (j == a)
                j = b;
            if (j >= c1)
                break;
            idx lo, hi;
            span(j, Q->wc, m, &lo, &hi);
            moved_sums(v, j, lo, hi, NULL, NULL, &z2[j]);
        }
    }
}

/* The ring slot of row r, with the horizontal sums `want` made. */
static int ensure(Quad *Q, idx r, int want)
{
    int slot = slot_of(Q->R, r);
    if (Q->row[slot] != r || Q->sums_wc[slot] != Q->wc) {
        Q->row[slot] = r;
        Q->sums_wc[slot] = Q->wc;
        Q->have[slot] = 0;
    }
    int need = want & ~Q->have[slot];
    if (need & HAVE_Z2)
        need |= Q->have[slot] & HAVE_Z01 ? 0 : HAVE_Z01;
    if (need) {
        horizontal(Q, slot, need);
        Q->have[slot] |= (unsigned char)need;
    }
    return slot;
}

/* Solve the positive definite n x n system A x = b (n <= 6), scaled to a unit
 * diagonal, by Cholesky; 0 if a pivot falls below QUAD_TOL. */
static int solve(int n, double A[6][6], const double *b, double *x)
{
    double d[6], L[6][6], y[6];
    for (int a = 0; a < n; a++) {
        if (!(A[a][a] > 0.0))
            return 0;
        d[a] = sqrt(A[a][a]);
    }
    for (int col = 0; col < n; col++) {
        double s = A[col][col] / (d[col] * d[col]);
        for (int q = 0; q < col; q++)
            s -= L[col][q] * L[col][q];
        if (!(s > QUAD_TOL))
            return 0;
        L[col][col] = sqrt(s);
        for (int r = col + 1; r < n; r++) {
            double t = A[r][col] / (d[r] * d[col]);
            for (int q = 0; q < col; q++)
                t -= L[r][q] * L[col][q];
            L[r][col] = t / L[col][col];
        }
    }
    for (int r = 0; r < n; r++) {
        double t = b[r] / d[r];
        for (int q = 0; q < r; q++)
            t -= L[r][q] * y[q];
        y[r] = t / L[r][r];
    }
    for (int r = n - 1; r >= 0; r--) {
        double t = y[r];
        for (int q = r + 1; q < n; q++)
            t -= L[q][r] * x[q];
        x[r] = t / L[r][r];
    }
    for (int r = 0; r < n; r++)
        x[r] = x[r] / d[r];
    return 1;
}

/* H_p of a whole window for every output column (the current width). */
static void template_sums(Quad *Q)
{
    idx m = Q->R->k->m;
    for (idx jj = 0; jj < Q->width; jj++) {
        idx lo, hi;
        double h[5];
        span(Q->c0 + jj, Q->wc, m, &lo, &hi);
        moments_of(NULL, 0, lo, hi, h);
        for (int p = 0; p < 5; p++)
            Q->tmpl[(size_t)p * (size_t)Q->width + (size_t)jj] = h[p];
    }
    Q->tmpl_wc = Q->wc;
}

/* Output row i's window and the offsets and scales of its rows. */
static void setup_row(Quad *Q, idx i)
{
    const Kernel *k = Q->R->k;
    idx n = k->n, m = k->m;
    Q->wr = k->win[2 * i] < n ? k->win[2 * i] : (int)n;
    Q->wc = k->win[2 * i + 1] < m ? k->win[2 * i + 1] : (int)m;
    idx ri = i - Q->wr / 2;
    if (ri > n - Q->wr)
        ri = n - Q->wr;
    if (ri < 0)
        ri = 0;
    Q->ri = ri;
    Q->hy = k->row_x ? (k->row_x[ri + Q->wr - 1] - k->row_x[ri]) / (double)(Q->wr - 1)
                     : k->row_h;
    for (int t = 0; t < Q->wr; t++) {
        idx r = ri + t;
        Q->y[t] = k->row_x ? (k->row_x[r] - k->row_x[i]) / Q->hy : (double)(r - i);
        Q->s[t] = k->col_scale ? k->col_scale[r] / k->col_scale[i] : 1.0;
    }
    Q->wm_ready = 0;
    Q->metric = k->row_x || k->col_scale;
    if (Q->tmpl_wc != Q->wc)
        template_sums(Q);
}

/* Way B's weights for the current row: 0 if its whole window is degenerate. */
static int row_weights(Quad *Q)
{
    int kc = Q->wc / 2;
    double h0 = (double)Q->wc, h2 = 0.0, h4 = 0.0;
    for (int l = 1; l <= kc; l++) {
        double d2 = (double)(l * l);
        h2 += 2.0 * d2;
        h4 += 2.0 * (d2 * d2);
    }
    double m20 = 0, m21 = 0, m22 = 0, m40 = 0, m00 = 0, m01 = 0, m02 = 0, m03 = 0, m04 = 0;
    for (int t = 0; t < Q->wr; t++) {
        double s = Q->s[t], y = Q->y[t], s2 = s * s, y2 = y * y;
        m20 += s2 * h2;
        m21 += (s2 * y) * h2;
        m22 += (s2 * y2) * h2;
        m40 += (s2 * s2) * h4;
        m00 += h0;
        m01 += y * h0;
        m02 += y2 * h0;
        m03 += (y2 * y) * h0;
        m04 += (y2 * y2) * h0;
    }
    /* odd in x: basis x, xy; d is the first row of the inverse */
    double A[6][6] = {{m20, m21}, {m21, m22}}, unit[6] = {1, 0}, g[6], h[6];
    if (!solve(2, A, unit, g))
        return 0;
    /* even in x: basis x^2, y^2, y, 1; e is the third row */
    double E[6][6] = {{m40, m22, m21, m20}, {m22, m04, m03, m02}, {m21, m03, m02, m01},
                      {m20, m02, m01, m00}};
    double third[6] = {0, 0, 1, 0};
    if (!solve(4, E, third, h))
        return 0;
    for (int t = 0; t < Q->wr; t++) {
        double s = Q->s[t], y = Q->y[t];
        Q->wp[t] = g[0] * s + g[1] * (s * y);
        Q->wq2[t] = h[0] * (s * s);
        Q->wq0[t] = h[1] * (y * y) + h[2] * y + h[3];
    }
    return 1;
}

/* Whether every valid elevation in pixel (i, j)'s window equals its own. */
static int flat(Quad *Q, idx i, idx j)
{
    Rows *R = Q->R;
    idx lo, hi;
    double z0 = V(R, i, j);
    span(j, Q->wc, R->k->m, &lo, &hi);
    for (int t = 0; t < Q->wr; t++)
        for (idx l = lo; l <= hi; l++)
            if (holds(R, Q->ri + t, j + l) && V(R, Q->ri + t, j + l) != z0)
                return 0;
    return 1;
}

/* Whether a fit (in steps) is within rounding of flat at pixel (i, j). */
static inline int nearly_flat(Quad *Q, idx i, idx j, double p, double q)
{
    double tol = FLAT_TOL * fabs(V(Q->R, i, j));
    return fabs(p) <= tol && fabs(q) <= tol && flat(Q, i, j);
}

/* Way C at pixel (i, j): the normal equations of its window's valid pixels;
 * the central differences where they do not determine the quadratic. */
static void way_c(Quad *Q, idx i, idx j, double *d_row, double *d_col)
{
    const Kernel *k = Q->R->k;
    idx jj = j - Q->c0;
    if (!Q->wm_ready) {
        for (int t = 0; t < Q->wr; t++) {
            double sp[5] = {1.0}, yq[5] = {1.0};
            for (int e = 1; e < 5; e++) {
                sp[e] = sp[e - 1] * Q->s[t];
                yq[e] = yq[e - 1] * Q->y[t];
            }
            for (int u = 0; u < 15; u++)
                Q->wm[t * 15 + u] = sp[MP[u]] * yq[MQ[u]];
            double v = (double)(Q->ri + t - i);
            Q->wi[t * 5] = 1.0;
            for (int e = 1; e < 5; e++)
                Q->wi[t * 5 + e] = Q->wi[t * 5 + e - 1] * v;
        }
        Q->wm_ready = 1;
    }
    double M[15] = {0}, B[6] = {0}, Mi[15] = {0};
    for (int t = 0; t < Q->wr; t++) {
        int slot = ensure(Q, Q->ri + t, HAVE_Z01 | HAVE_Z2);
        const double *w = Q->wm + t * 15;
        double h[5], z[3];
        for (int p = 0; p < 5; p++)
            h[p] = whole(Q, slot) ? Q->tmpl[(size_t)p * (size_t)Q->width + (size_t)jj]
                                  : hsum(Q, slot, p)[jj];
        for (int p = 0; p < 3; p++)
            z[p] = zsum(Q, slot, p)[jj];
        for (int u = 0; u < 15; u++)
            M[u] += w[u] * h[MP[u]];
        for (int a = 0; a < 6; a++)
            B[a] += w[mono(BP[a], BQ[a])] * z[BP[a]];
        if (Q->metric)
            for (int u = 0; u < 15; u++)  /* exact: whole numbers */
                Mi[u] += Q->wi[t * 5 + MQ[u]] * h[MP[u]];
    }
    double A[6][6], c[6];
    int determined = M[0] >= 6.0;
    if (determined && Q->metric) {
        double zero[6] = {0};
        for (int a = 0; a < 6; a++)
            for (int b = 0; b < 6; b++)
                A[a][b] = Mi[mono(BP[a] + BP[b], BQ[a] + BQ[b])];
        determined = solve(6, A, zero, c);
    }
    for (int a = 0; a < 6; a++)
        for (int b = 0; b < 6; b++)
            A[a][b] = M[mono(BP[a] + BP[b], BQ[a] + BQ[b])];
    if (!determined || !solve(6, A, B, c)) {
        *d_row = central(Q->R, i, j, 1, 0, i, k->row_h, k->row_x, k->ra, k->rb, k->rc);
        *d_col = central(Q->R, i, j, 0, 1, j, k->col_h, k->col_x, k->ca, k->cb, k->cc);
        return;
    }
    double p = c[COEF_X], q = c[COEF_Y];
    if (nearly_flat(Q, i, j, p, q))
        p = q = 0.0;
    *d_col = p / k->col_h;
    *d_row = q / Q->hy;
}

/* d/drow and d/dcol of row i, columns c0:c1, by the window fit. */
HOT static void quadratic(Quad *Q, idx i, idx c0, idx c1, double *d_row, double *d_col)
{
    const Kernel *k = Q->R->k;
    setup_row(Q, i);
    int wr = Q->wr, wc = Q->wc, kr = wr / 2, kc = wc / 2;
    int centred_row = (wr & 1) && Q->ri == i - kr && wr >= 3 && wc >= 3;
    int way_a = centred_row && !k->row_x && !k->col_scale;
    idx a, b;
    centred_columns(Q, &a, &b);
    int way_b = !way_a && a < b && wr >= 3 && wc >= 3 && row_weights(Q);
    int all_whole = 1;
    for (int t = 0; t < wr; t++) {
        Q->slot[t] = ensure(Q, Q->ri + t, way_b ? HAVE_Z01 | HAVE_Z2 : HAVE_Z01);
        all_whole &= whole(Q, Q->slot[t]);
    }
    double *dr = d_row - c0, *dc = d_col - c0;
    if (way_a) {
        /* sum x z / sum x^2 and sum y z / sum y^2, x^2 and y^2 summed exactly */
        double sx2 = (double)kc * (kc + 1) * (2 * kc + 1) / 3.0;
        double sy2 = (double)kr * (kr + 1) * (2 * kr + 1) / 3.0;
        double den_col = (double)wr * sx2 * k->col_h, den_row = (double)wc * sy2 * k->row_h;
        /* a pair of rows v and -v a pass */
        const double *z1 = zsum(Q, Q->slot[kr], 1) - c0;
        for (idx j = a; j < b; j++) {
            dc[j] = z1[j];
            dr[j] = 0.0;
        }
        for (int v = 1; v <= kr; v++) {
            const double *after = zsum(Q, Q->slot[kr + v], 0) - c0;
            const double *before = zsum(Q, Q->slot[kr - v], 0) - c0;
            const double *after1 = zsum(Q, Q->slot[kr + v], 1) - c0;
            const double *before1 = zsum(Q, Q->slot[kr - v], 1) - c0;
            double dv = (double)v;
            for (idx j = a; j < b; j++) {
                dc[j] += before1[j] + after1[j];
                dr[j] += dv * (after[j] - before[j]);
            }
        }
        for (idx j = a; j < b; j++) {
            dc[j] = dc[j] / den_col;
            dr[j] = dr[j] / den_row;
        }
    } else if (way_b) {
        const double *z0 = zsum(Q, Q->slot[0], 0) - c0, *z1 = zsum(Q, Q->slot[0], 1) - c0,
                     *z2 = zsum(Q, Q->slot[0], 2) - c0;
        double wp = Q->wp[0], wq2 = Q->wq2[0], wq0 = Q->wq0[0];
        for (idx j = a; j < b; j++) {
            dc[j] = wp * z1[j];
            dr[j] = wq2 * z2[j] + wq0 * z0[j];
        }
        for (int t = 1; t < wr; t++) {
            z0 = zsum(Q, Q->slot[t], 0) - c0, z1 = zsum(Q, Q->slot[t], 1) - c0;
            z2 = zsum(Q, Q->slot[t], 2) - c0;
            wp = Q->wp[t], wq2 = Q->wq2[t], wq0 = Q->wq0[t];
            for (idx j = a; j < b; j++) {
                dc[j] += wp * z1[j];
                dr[j] += wq2 * z2[j] + wq0 * z0[j];
            }
        }
        for (idx j = a; j < b; j++) {
            dc[j] = dc[j] / k->col_h;
            dr[j] = dr[j] / Q->hy;
        }
    }
    /* each pixel: nodata, a window with nodata or off-centre (way C), or flat */
    double col_h = fabs(k->col_h), hy = fabs(Q->hy);
    for (idx j = c0; j < c1; j++) {
        if (way_a && all_whole && j == a && a < b) {
            j = b - 1;  /* nothing to check: whole, centred, exactly 0 where flat */
            continue;
        }
        if (!holds(Q->R, i, j)) {
            dr[j] = dc[j] = NAN;
            continue;
        }
        int fit = (way_a || way_b) && a <= j && j < b;
        for (int t = 0; fit && !all_whole && t < wr; t++)
            fit = whole(Q, Q->slot[t]) || hsum(Q, Q->slot[t], 0)[j - c0] == (double)wc;
        if (!fit)
            way_c(Q, i, j, &dr[j], &dc[j]);
        else if (way_b && nearly_flat(Q, i, j, dc[j] * col_h, dr[j] * hy))
            dr[j] = dc[j] = 0.0;
    }
}

/* ---- products and their encoding ---- */

static inline double slope_of(double dzdx, double dzdy, int units)
{
    double ratio = sqrt(dzdx * dzdx + dzdy * dzdy);
    switch (units) {
    case RATIO: return ratio;
    case PERCENT: return 100.0 * ratio;
    case DEGREES: return atan(ratio) * DEGREES_PER_RADIAN;
    default: return atan(ratio);
    }
}

static inline double aspect_of(double dzdx, double dzdy)
{
    if (isnan(dzdx) || isnan(dzdy) || (dzdx == 0 && dzdy == 0))
        return NAN;
    /* numpy's %: the remainder takes the divisor's sign */
    double bearing = fmod(atan2(-dzdx, -dzdy) * DEGREES_PER_RADIAN, 360.0);
    if (bearing < 0)
        bearing += 360.0;
    /* a bearing a hair below 0 wraps to 360.0 in floating point: that is north */
    return bearing >= 360.0 ? 0.0 : bearing;
}

static inline double hillshade_of(const double *light, double dzdx, double dzdy)
{
    double towards_light = light[0] * dzdx + light[1] * dzdy;
    double cos_angle = (light[2] - light[3] * towards_light)
                       / sqrt(1.0 + dzdx * dzdx + dzdy * dzdy);
    double shade = 254.0 * cos_angle;
    return shade <= 0.0 ? 1.0 : 1.0 + shade;
}

static inline void store(const Kernel *k, idx offset, double v)
{
    switch (k->out_type) {
    case OUT_F64:
        ((double *)k->out)[offset] = isnan(v) ? k->nodata : v;
        break;
    case OUT_F32:
        ((float *)k->out)[offset] = isnan(v) ? (float)k->nodata : (float)v;
        break;
    default:  /* gdaldem's Byte: rounded half up, clamped, 0 for nodata */
        ((unsigned char *)k->out)[offset] =
            isnan(v) ? 0 : (unsigned char)floor(fmin(fmax(v, 0.0), 255.0) + 0.5);
    }
}

/* Encode row i's derivatives (dz/dx in d_col, dz/dy in d_row) at out row r. */
HOT static void encode(const Kernel *k, idx r, idx width, const double *d_row, const double *d_col)
{
    idx base = r * width, band = k->out_rows * width;
    if (k->kind == GRADIENT) {
        for (idx x = 0; x < width; x++) {
            store(k, base + x, d_col[x]);
            store(k, band + base + x, d_row[x]);
        }
    } else if (k->kind == SLOPE && k->units == RATIO && k->out_type == OUT_F32) {
        float *out = (float *)k->out + base, nodata = (float)k->nodata;
        for (idx x = 0; x < width; x++) {  /* the default product, written out to vectorise */
            double ratio = sqrt(d_col[x] * d_col[x] + d_row[x] * d_row[x]);
            out[x] = isnan(ratio) ? nodata : (float)ratio;
        }
    } else if (k->kind == SLOPE) {
        for (idx x = 0; x < width; x++)
            store(k, base + x, slope_of(d_col[x], d_row[x], k->units));
    } else if (k->kind == ASPECT) {
        for (idx x = 0; x < width; x++)
            store(k, base + x, aspect_of(d_col[x], d_row[x]));
    } else {
        for (idx x = 0; x < width; x++)
            store(k, base + x, hillshade_of(k->light, d_col[x], d_row[x]));
    }
}

/* The window fit's sums and weights for `size` ring rows and `width` output columns. */
static int quad_init(Quad *Q, Rows *R, idx c0, idx width, int size)
{
    size_t w = (size_t)width, n = (size_t)size, m = (size_t)R->k->m;
    size_t doubles = n * 3 * w + n * 5 * w + 5 * w + m + 5 * n + 15 * n + 5 * n;
    double *block = malloc(sizeof(double) * doubles + (sizeof(idx) + 2 * sizeof(int) + 1) * n);
    if (!block)
        return -1;
    Q->R = R, Q->c0 = c0, Q->width = width, Q->tmpl_wc = -1;
    Q->zs = block;
    Q->hs = Q->zs + n * 3 * w;
    Q->tmpl = Q->hs + n * 5 * w;
    Q->v = Q->tmpl + 5 * w;
    Q->y = Q->v + m;
    Q->s = Q->y + n, Q->wp = Q->s + n, Q->wq2 = Q->wp + n, Q->wq0 = Q->wq2 + n;
    Q->wm = Q->wq0 + n;
    Q->wi = Q->wm + 15 * n;
    Q->row = (idx *)(Q->wi + 5 * n);
    Q->sums_wc = (int *)(Q->row + n);
    Q->slot = Q->sums_wc + n;
    Q->have = (unsigned char *)(Q->slot + n);
    for (size_t t = 0; t < n; t++)
        Q->row[t] = -1, Q->sums_wc[t] = 0, Q->have[t] = 0;
    return 0;
}

/* Rows r0:r1, columns c0:c1 into out, row r0 at out row out_row. */
static int run(Kernel *k, idx r0, idx r1, idx c0, idx c1, idx out_row)
{
    idx width = c1 - c0, m = k->m, reach = 2;
    int size = 5;
    if (k->method == QUADRATIC)
        for (idx i = r0; i < r1; i++) {
            int wr = k->win[2 * i] < k->n ? k->win[2 * i] : (int)k->n;
            int wc = k->win[2 * i + 1] < m ? k->win[2 * i + 1] : (int)m;
            size = wr > size ? wr : size;
            reach = wc - 1 > reach ? wc - 1 : reach;  /* a window moved to the edge */
        }
    Rows R = {k, NULL, NULL, NULL, NULL, size, c0 > reach ? c0 - reach : 0,
              c1 + reach < m ? c1 + reach : m};
    size_t ring = (size_t)size * (size_t)m;
    double *d = malloc(sizeof(double) * ((size_t)(2 * width) + ring)
                       + (sizeof(idx) + sizeof(int) + 1) * (size_t)size + ring);
    Quad Q;
    memset(&Q, 0, sizeof Q);
    if (!d || (k->method == QUADRATIC && quad_init(&Q, &R, c0, width, size) < 0)) {
        free(d);
        return -1;
    }
    double *d_row = d, *d_col = d + width;
    R.ring = d + 2 * width;
    R.slot_row = (idx *)(R.ring + ring);
    R.slot_full = (int *)(R.slot_row + size);
    R.ring_ok = (unsigned char *)(R.slot_full + size);
    for (int slot = 0; slot < size; slot++)
        R.slot_row[slot] = -1, R.slot_full[slot] = 0;
    for (idx i = r0; i < r1; i++) {
        if (k->method == QUADRATIC)
            quadratic(&Q, i, c0, c1, d_row, d_col);
        else
            derivatives(&R, i, c0, c1, d_row, d_col);
        /* to metres east and north: dz/dx into d_col, dz/dy into d_row */
        if (k->jac) {
            for (idx x = 0; x < width; x++) {
                double dzdx = k->jac[0] * d_col[x] + k->jac[1] * d_row[x];
                d_row[x] = k->jac[2] * d_col[x] + k->jac[3] * d_row[x];
                d_col[x] = dzdx;
            }
        } else if (k->col_scale) {
            double scale = k->col_scale[i];
            for (idx x = 0; x < width; x++)
                d_col[x] = d_col[x] / scale;
        }
        encode(k, out_row + i - r0, width, d_row, d_col);
    }
    free(Q.zs);
    free(d);
    return 0;
}

/* ---- Python ---- */

/* A C-contiguous buffer of `ndim` dimensions and one of `formats`; its format's
 * index in `formats` is returned, -1 with an exception set otherwise. */
static int get(PyObject *obj, Py_buffer *view, int flags, int ndim, const char *formats,
               const char *name)
{
    if (PyObject_GetBuffer(obj, view, flags | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return -1;
    const char *f = view->format;
    if (f[0] == '<' || f[0] == '=' || f[0] == '@')
        f++;
    const char *hit = strlen(f) == 1 ? strchr(formats, f[0]) : NULL;
    if (view->ndim != ndim || !hit) {
        PyErr_Format(PyExc_TypeError, "%s: %d-D array of type %s expected, got %d-D '%s'",
                     name, ndim, formats, view->ndim, view->format);
        PyBuffer_Release(view);
        return -1;
    }
    return (int)(hit - formats);
}

/* An optional float64 vector of at least `n` values: NULL for None. */
static int vector(PyObject *obj, Py_buffer *view, idx n, const double **out, const char *name)
{
    *out = NULL;
    if (obj == Py_None)
        return 0;
    if (get(obj, view, PyBUF_SIMPLE, 1, "d", name) < 0)
        return -1;
    if (view->shape[0] < n) {
        PyErr_Format(PyExc_ValueError, "%s: %zd values expected, got %zd", name, n,
                     view->shape[0]);
        PyBuffer_Release(view);
        return -1;
    }
    *out = view->buf;
    return 1;
}

PyDoc_STRVAR(fused_doc,
"fused(z, mask, z_nodata, finite, r0, r1, c0, c1, method, edge_order, row_h, row_x, col_h, col_x,\n"
"      row_step, col_step, col_scale, jacobian, z_factor, kind, units, light,\n"
"      nodata, out, out_row, window)\n\n"
"Rows r0:r1, columns c0:c1 of z's output bands into out (bands, rows, c1 - c0),\n"
"row r0 at out row out_row; terrain.core.fused documents the arguments.\n"
"Optional arrays are None; window (the quadratic method's) is an int32 array\n"
"of z's rows x 2: each row's window rows and columns. Releases the GIL while it\n"
"computes.");

static PyObject *fused(PyObject *self, PyObject *args)
{
    PyObject *z_o, *mask_o, *nodata_o, *row_x_o, *col_x_o, *row_step_o, *col_step_o, *scale_o,
        *jac_o, *light_o, *out_o, *win_o = Py_None;
    idx r0, r1, c0, c1, out_row;
    Kernel k;
    memset(&k, 0, sizeof k);
    if (!PyArg_ParseTuple(args, "OOOpnnnniidOdOOOOOdiiOdOn|O", &z_o, &mask_o, &nodata_o,
                          &k.finite, &r0, &r1, &c0, &c1, &k.method, &k.edge_order,
                          &k.row_h, &row_x_o, &k.col_h, &col_x_o, &row_step_o, &col_step_o,
                          &scale_o, &jac_o, &k.z_factor,
                          &k.kind, &k.units, &light_o, &k.nodata, &out_o, &out_row, &win_o))
        return NULL;

    enum { Z, MASK, ROW_X, COL_X, ROW_STEP, COL_STEP, SCALE, JAC, LIGHT, OUT, WIN, NVIEWS };
    Py_buffer views[NVIEWS];
    int held[NVIEWS] = {0};
    PyObject *result = NULL;
    double *coef = NULL;
    int f = get(z_o, &views[Z], PyBUF_SIMPLE, 2, "fd", "z");
    if (f < 0)
        return NULL;
    held[Z] = 1;
    k.z = views[Z].buf;
    k.z_f32 = f == 0;
    k.n = views[Z].shape[0];
    k.m = views[Z].shape[1];
    if (mask_o != Py_None) {
        if (get(mask_o, &views[MASK], PyBUF_SIMPLE, 2, "?B", "mask") < 0)
            goto done;
        held[MASK] = 1;
        if (views[MASK].shape[0] != k.n || views[MASK].shape[1] != k.m) {
            PyErr_SetString(PyExc_ValueError, "mask: not the shape of z");
            goto done;
        }
        k.mask = views[MASK].buf;
    }
    if (nodata_o != Py_None) {
        k.z_nodata = PyFloat_AsDouble(nodata_o);
        if (k.z_nodata == -1.0 && PyErr_Occurred())
            goto done;
        k.has_nodata = !isnan(k.z_nodata);  /* NaN never equals: finite covers it */
    }
    k.holes = k.mask || k.has_nodata || k.finite;
    const double *light = NULL;
    int held_any;
#define VECTOR(slot, obj, size, field, name) \
    if ((held_any = vector(obj, &views[slot], size, &field, name)) < 0) goto done; \
    held[slot] = held_any;
    VECTOR(ROW_X, row_x_o, k.n, k.row_x, "row_x")
    VECTOR(COL_X, col_x_o, k.m, k.col_x, "col_x")
    VECTOR(ROW_STEP, row_step_o, k.n, k.row_step, "row_step")
    VECTOR(COL_STEP, col_step_o, k.m, k.col_step, "col_step")
    VECTOR(SCALE, scale_o, k.n, k.col_scale, "col_scale")
    VECTOR(JAC, jac_o, 4, k.jac, "jacobian")
    VECTOR(LIGHT, light_o, 4, light, "light")
#undef VECTOR
    if (light)
        memcpy(k.light, light, sizeof k.light);
    if (k.method == HORN && (!k.row_step || !k.col_step)) {
        PyErr_SetString(PyExc_ValueError, "Horn's method needs row_step and col_step");
        goto done;
    }
    if (k.method == QUADRATIC) {
        if (win_o == Py_None) {
            PyErr_SetString(PyExc_ValueError, "the quadratic method needs a window");
            goto done;
        }
        if (get(win_o, &views[WIN], PyBUF_SIMPLE, 2, "i", "window") < 0)
            goto done;
        held[WIN] = 1;
        k.win = views[WIN].buf;
        if (views[WIN].shape[0] != k.n || views[WIN].shape[1] != 2) {
            PyErr_SetString(PyExc_ValueError, "window: one (rows, columns) pair per row of z");
            goto done;
        }
        for (idx i = 0; i < 2 * k.n; i++)
            if (k.win[i] < 1) {
                PyErr_SetString(PyExc_ValueError, "window: sizes must be at least 1");
                goto done;
            }
        if (k.col_x) {
            PyErr_SetString(PyExc_ValueError, "the quadratic method needs uniform columns");
            goto done;
        }
    } else if (k.method != CENTRAL && k.method != HORN) {
        PyErr_SetString(PyExc_ValueError, "unknown method");
        goto done;
    }
    if (k.kind < GRADIENT || k.kind > HILLSHADE || k.units < RATIO || k.units > RADIANS) {
        PyErr_SetString(PyExc_ValueError, "unknown product or units");
        goto done;
    }
    if ((k.out_type = get(out_o, &views[OUT], PyBUF_WRITABLE, 3, "dfB", "out")) < 0)
        goto done;
    held[OUT] = 1;
    k.out = views[OUT].buf;
    k.out_rows = views[OUT].shape[1];
    if (k.n < 2 || k.m < 2 || r0 < 0 || r1 > k.n || r0 > r1 || c0 < 0 || c1 > k.m || c0 > c1
        || views[OUT].shape[0] != (k.kind == GRADIENT ? 2 : 1)
        || views[OUT].shape[2] != c1 - c0 || out_row < 0
        || out_row + (r1 - r0) > k.out_rows) {
        PyErr_SetString(PyExc_ValueError, "rows, columns or out do not fit z");
        goto done;
    }
    coef = calloc((size_t)(3 * (k.n + k.m)), sizeof(double));
    if (!coef) {
        PyErr_NoMemory();
        goto done;
    }
    k.ra = coef, k.rb = coef + k.n, k.rc = coef + 2 * k.n;
    k.ca = coef + 3 * k.n, k.cb = k.ca + k.m, k.cc = k.ca + 2 * k.m;
    int status;
    Py_BEGIN_ALLOW_THREADS
    if (k.row_x)
        coefficients(k.row_x, k.n, k.ra, k.rb, k.rc);
    if (k.col_x)
        coefficients(k.col_x, k.m, k.ca, k.cb, k.cc);
    status = run(&k, r0, r1, c0, c1, out_row);
    Py_END_ALLOW_THREADS
    if (status < 0) {
        PyErr_NoMemory();
        goto done;
    }
    result = Py_NewRef(Py_None);
done:
    free(coef);
    for (int v = 0; v < NVIEWS; v++)
        if (held[v])
            PyBuffer_Release(&views[v]);
    return result;
}

static PyMethodDef methods[] = {
    {"fused", fused, METH_VARARGS, fused_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "terrain._kernel",
    "terrain's compiled gradient kernel; see terrain.core.fused.", -1, methods,
};

PyMODINIT_FUNC PyInit__kernel(void)
{
    return PyModule_Create(&module);
}
