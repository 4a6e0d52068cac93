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
 * - the product (gradient, slope, aspect, hillshade, or curvatures from the
 *   window fit's second derivatives);
 * - its encoding (float32 or float64 with a nodata value, or gdaldem's Byte).
 *
 * Every operation is the IEEE operation numpy performs, in the order numpy
 * performs it: build with -ffp-contract=off (no fused multiply-add) and
 * without -ffast-math (setup.py). On hole-free data the central gradient
 * equals numpy.gradient of the float64 array bit for bit; tests/ hold numpy
 * as the reference. The one exception is the arctangent (degrees, radians,
 * aspect): the kernel's own, vectorised (arctan below), within 1.8e-16 of the
 * exact value where the C library's is within 1 ulp, so that float32 results
 * are the correctly rounded value's rounding but within 1e-12 of a float32
 * rounding boundary, and there within 1 float32 ulp.
 *
 * The GIL is released while a call computes, so callers split the rows of a
 * block among threads (terrain.core.fused).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { GRADIENT, SLOPE, ASPECT, HILLSHADE, CURVATURE };  /* terrain.core.PRODUCTS */
enum { PROFILE, TANGENTIAL, PLAN, MEAN, GAUSSIAN, MAXIMAL, MINIMAL, DXX, DYY, DXY,
       N_CURVATURES };                        /* terrain.core.CURVATURES */
enum { RATIO, PERCENT, DEGREES, RADIANS };    /* terrain.units.SLOPE_UNITS */
enum { CENTRAL, HORN, QUADRATIC };           /* terrain.core.METHODS */
enum { OUT_F64, OUT_F32, OUT_U8 };
/* the vertical error behind the standard errors: terrain.core.SIGMAS */
enum { SIGMA_NONE, SIGMA_UNIFORM, SIGMA_RASTER, SIGMA_FIT };

typedef Py_ssize_t idx;

/* The loops over whole rows: kept out of line (GCC's guess otherwise finds them
 * cold and leaves them scalar), and built three times on x86-64 Linux, for
 * AVX-512 (x86-64-v4: AVX-512 F, BW, CD, DQ, VL), for AVX2 and for any CPU, the
 * best chosen when the module loads (an ifunc; GCC before 12 and clang build the
 * last two only). No fused multiply-add on any of
 * them: -ffp-contract=off (setup.py) keeps every a * b + c two roundings, as
 * numpy computes it, even where the CPU has FMA. */
#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && defined(__has_attribute)
#if __has_attribute(target_clones) && !defined(__clang__) && __GNUC__ >= 12
#define HOT __attribute__((noinline, target_clones("arch=x86-64-v4", "avx2", "default")))
#elif __has_attribute(target_clones)  /* older GCC and clang: no x86-64-v4 clone */
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
    const int *kinds;             /* curvature: the kind of each output band */
    int n_kinds;
    /* standard errors (gradient, slope, aspect): SIGMA_NONE, or the elevations'
     * error, uncorrelated from pixel to pixel: one sigma, one per pixel, or the
     * window fit's residuals */
    int sigma;
    double sigma2;                /* SIGMA_UNIFORM: sigma^2 in metres^2; NaN for SIGMA_FIT */
    const void *zs;               /* SIGMA_RASTER: n x m sigmas as stored, float32 or float64 */
    int zs_f32;
    double sigma_factor;          /* metres per stored sigma */
    void *unc;                    /* the standard errors, out's type and shape */
} Kernel;

/* The rows the stencils reach (i-2 .. i+2, or a window's rows) of the
 * elevations in float64 metres and their validity, each converted once. */
typedef struct {
    const Kernel *k;
    double *ring;                 /* size rows of m values */
    unsigned char *ring_ok;       /* size rows of m flags: 1 where data */
    idx *slot_row;                /* size of them */
    int *slot_full;               /* every pixel in [lo, hi) holds data */
    double *sring;                /* SIGMA_RASTER: size rows of m sigma^2 (metres^2), or NULL */
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
    if (k->zs) {  /* NaN (the sigma raster's nodata) stays NaN */
        double *s2 = R->sring + slot * k->m, f = k->sigma_factor;
        if (k->zs_f32) {
            const float *src = (const float *)k->zs + r * k->m;
            for (idx c = lo; c < hi; c++) {
                double v = (double)src[c] * f;
                s2[c] = v * v;
            }
        } else {
            const double *src = (const double *)k->zs + r * k->m;
            for (idx c = lo; c < hi; c++) {
                double v = src[c] * f;
                s2[c] = v * v;
            }
        }
    }
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

/* sigma^2 (metres^2) at (r, c), inside the array. */
static inline double s2_at(Rows *R, idx r, idx c)
{
    if (!R->k->zs)
        return R->k->sigma2;
    return R->sring[slot_of(R, r) * R->k->m + c];
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

/* The variance of central()'s derivative at (i, j) along the axis of step
 * (di, dj): sum w^2 sigma^2 over the pixels of the stencil central() takes
 * there, the pixel itself included (its sigma unknown makes the variance
 * unknown); the pixel's own weight w in *w0, for the covariance of the two
 * axes, whose stencils share that pixel only. NaN where central() is NaN. */
static double central_var(Rows *R, idx i, idx j, int di, int dj, idx p, double h,
                          const double *x, const double *a, const double *b, const double *c,
                          double *w0)
{
    const Kernel *k = R->k;
    double s0 = s2_at(R, i, j);
    int okm1 = ok(R, i - di, j - dj), okp1 = ok(R, i + di, j + dj);
    if (okm1 && okp1) {
        double sm1 = s2_at(R, i - di, j - dj), sp1 = s2_at(R, i + di, j + dj);
        if (!x) {
            double w = 1.0 / (2.0 * h);
            *w0 = 0.0;
            return (w * w) * (sm1 + sp1) + 0.0 * s0;
        }
        *w0 = b[p];
        return ((a[p] * a[p]) * sm1 + (b[p] * b[p]) * s0) + (c[p] * c[p]) * sp1;
    }
    if (okp1 || okm1) {
        int dir = okp1 ? 1 : -1;
        double s1 = s2_at(R, i + dir * di, j + dir * dj);
        if (k->edge_order == 2 && ok(R, i + 2 * dir * di, j + 2 * dir * dj)) {
            double s2 = s2_at(R, i + 2 * dir * di, j + 2 * dir * dj), u0, u1, u2;
            if (!x) {  /* (-3 f0 + 4 f1 - f2) / 2h, mirrored on the other side */
                u0 = -1.5 / h, u1 = 2.0 / h, u2 = -0.5 / h;
            } else if (okp1) {
                double d1 = x[p + 1] - x[p], d2 = x[p + 2] - x[p + 1];
                u0 = -(2.0 * d1 + d2) / (d1 * (d1 + d2));
                u1 = (d1 + d2) / (d1 * d2);
                u2 = -d1 / (d2 * (d1 + d2));
            } else {
                double d1 = x[p - 1] - x[p - 2], d2 = x[p] - x[p - 1];
                u2 = d2 / (d1 * (d1 + d2));
                u1 = -(d2 + d1) / (d1 * d2);
                u0 = (2.0 * d2 + d1) / (d2 * (d1 + d2));
            }
            *w0 = x || okp1 ? u0 : -u0;
            return ((u0 * u0) * s0 + (u1 * u1) * s1) + (u2 * u2) * s2;
        }
        double step = x ? (okp1 ? x[p + 1] - x[p] : x[p] - x[p - 1]) : h;
        double u = 1.0 / step;
        *w0 = okp1 ? -u : u;
        return (u * u) * (s0 + s1);
    }
    *w0 = NAN;
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

/* Horn's 9 values are fills of real pixels: each a combination of at most 4. */
typedef struct {
    int n;
    idx r[4], c[4];
    double w[4];
} Combo;

/* Whether (r, c) gives Horn a value: data, and not NaN. */
static inline int present(Rows *R, idx r, idx c)
{
    return holds(R, r, c) && !isnan(V(R, r, c));
}

/* rows_extended's (r, c) as a combination; 0 where it is NaN. */
static int rows_combo(Rows *R, idx r, idx c, Combo *t)
{
    idx n = R->k->n;
    t->n = 0;
    if (r == -1 || r == n) {
        idx a = r == -1 ? 0 : n - 1, b = r == -1 ? 1 : n - 2;
        if (!present(R, a, c) || !present(R, b, c))
            return 0;
        t->n = 2;
        t->r[0] = a, t->c[0] = c, t->w[0] = 2.0;
        t->r[1] = b, t->c[1] = c, t->w[1] = -1.0;
        return 1;
    }
    if (!present(R, r, c))
        return 0;
    t->n = 1;
    t->r[0] = r, t->c[0] = c, t->w[0] = 1.0;
    return 1;
}

/* extended()'s (r, c) as a combination; 0 where it is NaN. */
static int extended_combo(Rows *R, idx r, idx c, int repeat_edge, Combo *t)
{
    idx m = R->k->m;
    if (c != -1 && c != m)
        return rows_combo(R, r, c, t);
    idx edge = c == -1 ? 0 : m - 1, next = c == -1 ? 1 : m - 2;
    Combo a, b;
    if (!rows_combo(R, r, edge, &a))
        return 0;
    if (repeat_edge) {
        *t = a;
        return 1;
    }
    if (!rows_combo(R, r, next, &b))
        return 0;
    t->n = 0;
    for (int u = 0; u < a.n; u++, t->n++)
        t->r[t->n] = a.r[u], t->c[t->n] = a.c[u], t->w[t->n] = 2.0 * a.w[u];
    for (int u = 0; u < b.n; u++, t->n++)
        t->r[t->n] = b.r[u], t->c[t->n] = b.c[u], t->w[t->n] = -b.w[u];
    return 1;
}

/* Horn's weights of its 9 values: d_row (rows run south), d_col. */
static const double HORN_ROW[3][3] = {{-1, -2, -1}, {0, 0, 0}, {1, 2, 1}};
static const double HORN_COL[3][3] = {{-1, 0, 1}, {-2, 0, 2}, {-1, 0, 1}};

/* Var(d_row), Var(d_col), Cov from the real pixels' weights wr, wc (3x3 about
 * the pixel, each times 8 steps) and their sigma^2, in one fixed order. */
static inline void horn_sums_var(const double wr[3][3], const double wc[3][3],
                                 const double s[3][3], double row_step, double col_step,
                                 double *vr, double *vc, double *vrc)
{
    double a = 0.0, b = 0.0, ab = 0.0;
    for (int u = 0; u < 3; u++)
        for (int v = 0; v < 3; v++) {
            a += (wr[u][v] * wr[u][v]) * s[u][v];
            b += (wc[u][v] * wc[u][v]) * s[u][v];
            ab += (wr[u][v] * wc[u][v]) * s[u][v];
        }
    double er = 8.0 * row_step, ec = 8.0 * col_step;
    *vr = a / (er * er);
    *vc = b / (ec * ec);
    *vrc = ab / (er * ec);
}

/* The variances of Horn's derivatives at (i, j), by horn()'s rules: each of
 * its 9 values a combination of real pixels (2a - b outside, the centre for a
 * missing neighbour), so each real pixel's weight is the sum of its parts. */
static void horn_var(Rows *R, idx i, idx j, double *vr, double *vc, double *vrc)
{
    const Kernel *k = R->k;
    idx n = k->n, m = k->m;
    if (!present(R, i, j)) {
        *vr = *vc = *vrc = NAN;
        return;
    }
    double wr[3][3] = {{0}}, wc[3][3] = {{0}}, s[3][3] = {{0}};
    int used[3][3] = {{0}};
    int inside = 1 <= i && i < n - 1 && 1 <= j && j < m - 1;
    int repeat_edge = i == 0 || i == n - 1;
    used[1][1] = 1;
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) {
            Combo t;
            int have = inside ? rows_combo(R, i - 1 + a, j - 1 + b, &t)
                              : extended_combo(R, i - 1 + a, j - 1 + b, repeat_edge, &t);
            if (!have) {
                t.n = 1;
                t.r[0] = i, t.c[0] = j, t.w[0] = 1.0;
            }
            for (int u = 0; u < t.n; u++) {
                int du = (int)(t.r[u] - i) + 1, dv = (int)(t.c[u] - j) + 1;
                wr[du][dv] += HORN_ROW[a][b] * t.w[u];
                wc[du][dv] += HORN_COL[a][b] * t.w[u];
                used[du][dv] = 1;
            }
        }
    for (int u = 0; u < 3; u++)
        for (int v = 0; v < 3; v++)
            s[u][v] = used[u][v] ? s2_at(R, i - 1 + u, j - 1 + v) : 0.0;
    horn_sums_var(wr, wc, s, k->row_step[i], k->col_step[j], vr, vc, vrc);
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

/* The variances of d/drow, d/dcol and their covariance at one pixel of the
 * 3x3 methods (central, Horn): the same stencils as pixel(). The window fit's
 * fallback where a window does not determine the quadratic is central too. */
static void pixel_var(Rows *R, idx i, idx j, double *vr, double *vc, double *vrc)
{
    const Kernel *k = R->k;
    if (!holds(R, i, j)) {
        *vr = *vc = *vrc = NAN;
        return;
    }
    if (k->method != HORN) {
        double w0r, w0c;
        *vr = central_var(R, i, j, 1, 0, i, k->row_h, k->row_x, k->ra, k->rb, k->rc, &w0r);
        *vc = central_var(R, i, j, 0, 1, j, k->col_h, k->col_x, k->ca, k->cb, k->cc, &w0c);
        *vrc = (w0r * w0c) * s2_at(R, i, j);
        return;
    }
    horn_var(R, i, j, vr, vc, vrc);
}

/* The variances of row i's d/drow and d/dcol, columns c0:c1, and their
 * covariance (central, Horn), pixel by pixel as pixel_var() gives them: the
 * interior of whole rows in loops, with the same operations. */
HOT static void variances(Rows *R, idx i, idx c0, idx c1, double *vr, double *vc, double *vrc)
{
    const Kernel *k = R->k;
    idx n = k->n, m = k->m;
    int uniform = k->method == CENTRAL && !k->row_x && !k->col_x;
    idx j0 = c0 > 1 ? c0 : 1, j1 = c1 < m - 1 ? c1 : m - 1;
    int fast = (uniform || k->method == HORN) && 1 <= i && i < n - 1 && j0 < j1
               && all_valid(R, i - 1, i + 2, j0 - 1, j1 + 1);
    if (fast) {
        double *ar = vr - c0, *ac = vc - c0, *arc = vrc - c0;
        if (uniform) {
            double wr = 1.0 / (2.0 * k->row_h), wc = 1.0 / (2.0 * k->col_h);
            if (!k->zs) {
                double s2 = k->sigma2, zero = 0.0 * s2;
                double cr = (wr * wr) * (s2 + s2) + zero, cc = (wc * wc) * (s2 + s2) + zero;
                double crc = (0.0 * 0.0) * s2;
                for (idx j = j0; j < j1; j++)
                    ar[j] = cr, ac[j] = cc, arc[j] = crc;
            } else {
                const double *above = R->sring + slot_of(R, i - 1) * m;
                const double *row = R->sring + slot_of(R, i) * m;
                const double *below = R->sring + slot_of(R, i + 1) * m;
                for (idx j = j0; j < j1; j++) {
                    ar[j] = (wr * wr) * (above[j] + below[j]) + 0.0 * row[j];
                    ac[j] = (wc * wc) * (row[j - 1] + row[j + 1]) + 0.0 * row[j];
                    arc[j] = (0.0 * 0.0) * row[j];
                }
            }
        } else {
            const double *za = row_of(R, i - 1), *zr = row_of(R, i), *zb = row_of(R, i + 1);
            const double *sa = k->zs ? R->sring + slot_of(R, i - 1) * m : NULL;
            const double *sr = k->zs ? R->sring + slot_of(R, i) * m : NULL;
            const double *sb = k->zs ? R->sring + slot_of(R, i + 1) * m : NULL;
            for (idx j = j0; j < j1; j++) {
                int nan = 0;
                for (int v = -1; v <= 1; v++)
                    nan |= isnan(za[j + v]) | isnan(zr[j + v]) | isnan(zb[j + v]);
                if (nan) {  /* NaN elevations: the full rules */
                    horn_var(R, i, j, &ar[j], &ac[j], &arc[j]);
                    continue;
                }
                double s[3][3];
                for (int v = 0; v < 3; v++) {
                    s[0][v] = sa ? sa[j - 1 + v] : k->sigma2;
                    s[1][v] = sr ? sr[j - 1 + v] : k->sigma2;
                    s[2][v] = sb ? sb[j - 1 + v] : k->sigma2;
                }
                horn_sums_var(HORN_ROW, HORN_COL, s, k->row_step[i], k->col_step[j],
                              &ar[j], &ac[j], &arc[j]);
            }
        }
    }
    idx skip_from = fast ? j0 : c1, skip_to = fast ? j1 : c1;
    for (idx j = c0; j < skip_from; j++)
        pixel_var(R, i, j, &vr[j - c0], &vc[j - c0], &vrc[j - c0]);
    for (idx j = skip_to; j < c1; j++)
        pixel_var(R, i, j, &vr[j - c0], &vc[j - c0], &vrc[j - c0]);
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
 *
 * The second derivatives r = 2a, t = 2b, s = c (curvature products only; the
 * other products never compute them) come the same three ways: A. by symmetry
 * c = sum xy z / sum x^2 y^2, and with x^2 and y^2 centred on their means over
 * the window (then orthogonal to each other and to 1) a = sum (x^2 - mean x^2) z
 * / sum (x^2 - mean x^2)^2, b likewise: the 3x3 system of (a, b, f) in closed
 * form, as sums of differences, exactly 0 on flat ground; B. fixed weights of
 * the row sums from the same two systems as d and e, once per output row;
 * C. the Cholesky solution's a, b, c. A pixel whose window does not determine
 * the quadratic (the central differences for d and e) has none: NaN.
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

enum { HAVE_Z01 = 1, HAVE_Z2 = 2, HAVE_D2 = 4, HAVE_G = 8, HAVE_Q = 16 };

/* How a pixel of the row being computed was fit: nodata, way A or B, way C. */
enum { FIT_NONE, FIT_AB, FIT_C };

typedef struct {
    Rows *R;
    idx c0, width;          /* the output columns */
    double *zs;             /* size x 4 x width: Z_0, Z_1, Z_2, D_2 of each ring row */
    double *hs;             /* size x 5 x width: H_0 .. H_4 of ring rows with nodata */
    idx *row;               /* per slot: the row the sums are of, -1 for none */
    int *sums_wc;           /* per slot: the window columns they were made with */
    unsigned char *have;    /* per slot: HAVE_Z01 | HAVE_Z2 | HAVE_D2 */
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
    double *wxy, *wa2, *wa0, *wb2, *wb0;  /* and for c, a and b (curvature) */
    int second;             /* second derivatives are wanted */
    double *wm;             /* per window row: s^p y^q of the 15 monomials (way C) */
    double *wi;             /* per window row: v^q, v its whole row offset (way C) */
    int metric;             /* s or y are not whole pixel offsets (lat/lon, row_x) */
    int wm_ready;
    /* standard errors */
    double *gs;             /* size x 5 x width: G_0 .. G_4, sums of l^p sigma^2 (SIGMA_RASTER) */
    double *qs;             /* size x width: sums of v^2 (SIGMA_FIT) */
    double *sv;             /* m: a row's sigma^2, 0 at nodata */
    unsigned char *how;     /* width: FIT_NONE, FIT_AB or FIT_C, per output pixel */
    double *sigma_block;    /* their allocation */
} Quad;

static inline double *zsum(const Quad *Q, int slot, int p)
{
    return Q->zs + ((size_t)slot * 4 + (size_t)p) * (size_t)Q->width;
}

static inline double *hsum(const Quad *Q, int slot, int p)
{
    return Q->hs + ((size_t)slot * 5 + (size_t)p) * (size_t)Q->width;
}

static inline double *gsum(const Quad *Q, int slot, int p)
{
    return Q->gs + ((size_t)slot * 5 + (size_t)p) * (size_t)Q->width;
}

static inline double *qsum(const Quad *Q, int slot)
{
    return Q->qs + (size_t)slot * (size_t)Q->width;
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
    if (need & HAVE_G) {
        /* G_p = sum of l^p sigma^2 over the window's columns that hold data: the
         * l = 0 term as 0 sigma^2, so that an unknown sigma there stays unknown */
        const double *sr = Q->R->sring + (size_t)slot * (size_t)m;
        double *w = Q->sv;
        for (idx c = Q->R->lo; c < Q->R->hi; c++)
            w[c] = full || ok[c] ? sr[c] : 0.0;
        double *g[5];
        for (int p = 0; p < 5; p++)
            g[p] = gsum(Q, slot, p) - c0;
        for (idx j = a; j < b; j++) {
            double zero = 0.0 * w[j];
            g[0][j] = w[j], g[1][j] = zero, g[2][j] = zero, g[3][j] = zero, g[4][j] = zero;
        }
        for (idx l = 1; l <= kc; l++) {
            double l1 = (double)l, l2 = l1 * l1, l3 = l2 * l1, l4 = l2 * l2;
            for (idx j = a; j < b; j++) {
                double up = w[j + l], down = w[j - l];
                g[0][j] += up + down;
                g[1][j] += l1 * (up - down);
                g[2][j] += l2 * (up + down);
                g[3][j] += l3 * (up - down);
                g[4][j] += l4 * (up + down);
            }
        }
        for (idx j = c0; j < c1; j++) {
            if (j == a)
                j = b;
            if (j >= c1)
                break;
            idx lo, hi;
            double t[5] = {0.0, 0.0, 0.0, 0.0, 0.0};
            span(j, Q->wc, m, &lo, &hi);
            for (idx l = lo; l <= hi; l++) {
                double l1 = (double)l, l2 = l1 * l1, x = w[j + l];
                t[0] += x, t[1] += l1 * x, t[2] += l2 * x, t[3] += (l2 * l1) * x;
                t[4] += (l2 * l2) * x;
            }
            for (int p = 0; p < 5; p++)
                g[p][j] = t[p];
        }
    }
    if (need & HAVE_Q) {
        double *q = qsum(Q, slot) - c0;
        for (idx j = a; j < b; j++)
            q[j] = v[j] * v[j];
        for (idx l = 1; l <= kc; l++)
            for (idx j = a; j < b; j++)
                q[j] += v[j + l] * v[j + l] + v[j - l] * v[j - l];
        for (idx j = c0; j < c1; j++) {
            if (j == a)
                j = b;
            if (j >= c1)
                break;
            idx lo, hi;
            double t = 0.0;
            span(j, Q->wc, m, &lo, &hi);
            for (idx l = lo; l <= hi; l++)
                t += v[j + l] * v[j + l];
            q[j] = t;
        }
    }
    if (need & HAVE_D2) {
        /* way A's sum (l^2 - mean l^2) v over the centred columns, as second
         * differences v[j + l] + v[j - l] - 2 v[j]: exactly 0 where v is flat */
        double *d2 = zsum(Q, slot, 3) - c0;
        double mean = (double)kc * (kc + 1) * (2 * kc + 1) / 3.0 / (double)Q->wc;
        for (idx j = a; j < b; j++)
            d2[j] = 0.0;
        for (idx l = 1; l <= kc; l++) {
            double w = (double)(l * l) - mean;
            for (idx j = a; j < b; j++)
                d2[j] += w * ((v[j + l] + v[j - l]) - 2.0 * v[j]);
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
    if (!Q->second)
        return 1;
    /* c is the second row of the odd inverse; a and b the first two of the even */
    double second[6] = {0, 1}, first[6] = {1, 0, 0, 0}, gc[6], ha[6], hb[6];
    if (!solve(2, A, second, gc) || !solve(4, E, first, ha) || !solve(4, E, second, hb))
        return 0;
    for (int t = 0; t < Q->wr; t++) {
        double s = Q->s[t], y = Q->y[t];
        Q->wxy[t] = gc[0] * s + gc[1] * (s * y);
        Q->wa2[t] = ha[0] * (s * s);
        Q->wa0[t] = ha[1] * (y * y) + ha[2] * y + ha[3];
        Q->wb2[t] = hb[0] * (s * s);
        Q->wb0[t] = hb[1] * (y * y) + hb[2] * y + hb[3];
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

/* The normal equations of pixel (i, j)'s window: M, the 15 moments of its
 * valid pixels' offsets; B, the 6 of the right side; Mi, M in whole pixel
 * offsets (metric grids). With G, the moments weighted by sigma^2 (the
 * sandwich's middle, SIGMA_RASTER); with zz, the sum of z^2 (SIGMA_FIT). */
static void normal(Quad *Q, idx i, idx j, double *M, double *B, double *Mi, double *G,
                   double *zz)
{
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
    int want = HAVE_Z01 | HAVE_Z2 | (G ? HAVE_G : 0) | (zz ? HAVE_Q : 0);
    for (int t = 0; t < Q->wr; t++) {
        int slot = ensure(Q, Q->ri + t, want);
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
        if (G)
            for (int u = 0; u < 15; u++)
                G[u] += w[u] * gsum(Q, slot, MP[u])[jj];
        if (zz)
            *zz += qsum(Q, slot)[jj];
    }
}

/* var[0..2] = Var(d/drow), Var(d/dcol), Cov at pixel (i, j) from its window's
 * normal equations A (M as a 6x6 matrix, factored again here) and the fit
 * beta: for one sigma, sigma^2 (A^-1)_de; for a sigma raster, the sandwich
 * A^-1 (sum sigma_k^2 a_k a_k^T) A^-1, its middle the moments G; for the
 * residuals, sigma^2 = RSS / (n - 6) with RSS = sum (z - c)^2 - beta'^T B'
 * (the fit of z - c, c the pixel's own elevation: the same RSS as
 * sum z^2 - beta^T B, with less cancellation), from the sum of z^2. */
static void fit_var(Quad *Q, idx i, idx j, double A[6][6], const double *M, const double *B,
                    const double *beta, const double *G, double zz, double *var)
{
    const Kernel *k = Q->R->k;
    double ex[6] = {0, 0, 0, 1, 0, 0}, ey[6] = {0, 0, 0, 0, 1, 0}, g[6], h[6];
    double vd, ve, cde;
    if (!solve(6, A, ex, g) || !solve(6, A, ey, h)) {
        var[0] = var[1] = var[2] = NAN;
        return;
    }
    if (k->sigma == SIGMA_RASTER) {
        double Gx[6] = {0}, Gy[6] = {0};
        for (int a = 0; a < 6; a++)
            for (int b = 0; b < 6; b++) {
                double m = G[mono(BP[a] + BP[b], BQ[a] + BQ[b])];
                Gx[a] += m * g[b];
                Gy[a] += m * h[b];
            }
        vd = ve = cde = 0.0;
        for (int a = 0; a < 6; a++) {
            vd += g[a] * Gx[a];
            ve += h[a] * Gy[a];
            cde += g[a] * Gy[a];
        }
    } else {
        double s2 = k->sigma2;
        if (k->sigma == SIGMA_FIT) {
            double n = M[0], c = V(Q->R, i, j);
            double dev = (zz - 2.0 * c * B[5]) + (c * c) * n, cross = 0.0;
            for (int a = 0; a < 6; a++)
                cross += (a == 5 ? beta[a] - c : beta[a]) * (B[a] - c * A[a][5]);
            double rss = dev - cross;
            s2 = n > 6.0 ? (rss > 0.0 ? rss : 0.0) / (n - 6.0) : NAN;
        }
        vd = s2 * g[3], ve = s2 * h[4], cde = s2 * g[4];
    }
    var[0] = ve / (Q->hy * Q->hy);
    var[1] = vd / (k->col_h * k->col_h);
    var[2] = cde / (k->col_h * Q->hy);
}

/* Way C at pixel (i, j): the normal equations of its window's valid pixels;
 * the central differences where they do not determine the quadratic. With
 * Q->second, the second derivatives too (d2[0..2]: d/dcol^2, d/drow^2,
 * d/dcol drow), NaN where the quadratic is not determined. With var, the
 * variances (fit_var; the central differences' where they are taken, none
 * from the residuals there). */
static void way_c(Quad *Q, idx i, idx j, double *d_row, double *d_col, double *d2, double *var)
{
    const Kernel *k = Q->R->k;
    double M[15] = {0}, B[6] = {0}, Mi[15] = {0}, G[15] = {0}, zz = 0.0;
    normal(Q, i, j, M, B, Mi, var && k->sigma == SIGMA_RASTER ? G : NULL,
           var && k->sigma == SIGMA_FIT ? &zz : NULL);
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
        if (Q->second)
            d2[0] = d2[1] = d2[2] = NAN;
        if (var)
            pixel_var(Q->R, i, j, &var[0], &var[1], &var[2]);  /* NaN for SIGMA_FIT */
        return;
    }
    double p = c[COEF_X], q = c[COEF_Y];
    int level = nearly_flat(Q, i, j, p, q);
    if (level)
        p = q = 0.0;
    *d_col = p / k->col_h;
    *d_row = q / Q->hy;
    if (Q->second) {
        d2[0] = level ? 0.0 : 2.0 * c[0] / (k->col_h * k->col_h);
        d2[1] = level ? 0.0 : 2.0 * c[1] / (Q->hy * Q->hy);
        d2[2] = level ? 0.0 : c[2] / (k->col_h * Q->hy);
    }
    if (var)
        fit_var(Q, i, j, A, M, B, c, G, zz, var);
}

/* Way A or B's variances at pixel (i, j) from the residuals (SIGMA_FIT), by
 * the normal equations: the fit is that of way C on a whole window. */
static void ab_fit_var(Quad *Q, idx i, idx j, double *var)
{
    double M[15] = {0}, B[6] = {0}, Mi[15] = {0}, zz = 0.0, A[6][6], c[6];
    normal(Q, i, j, M, B, Mi, NULL, &zz);
    for (int a = 0; a < 6; a++)
        for (int b = 0; b < 6; b++)
            A[a][b] = M[mono(BP[a] + BP[b], BQ[a] + BQ[b])];
    if (!solve(6, A, B, c)) {
        var[0] = var[1] = var[2] = NAN;
        return;
    }
    fit_var(Q, i, j, A, M, B, c, NULL, zz, var);
}

/* The variances of row i's pixels fit by way A or B (Q->how), into var_r,
 * var_c, var_rc (columns c0:c1): their linear weights are fixed, l / (wr S_2)
 * and y / (wc S_2) for way A, the row weights wp, wq2, wq0 for way B, so that
 * Var = sum of weight^2 sigma^2 over the window (separable: the G moments),
 * or for one sigma a number per row; from the residuals, way A's RSS by the
 * orthogonal basis 1, x, y, xy, x^2 - mean, y^2 - mean of a whole symmetric
 * window, way B's by the normal equations. */
static void ab_variances(Quad *Q, idx i, idx c0, idx c1, int way_a, double *var_r,
                         double *var_c, double *var_rc)
{
    const Kernel *k = Q->R->k;
    int wr = Q->wr, wc = Q->wc, kr = wr / 2, kc = wc / 2;
    double *vr = var_r - c0, *vc = var_c - c0, *vrc = var_rc - c0;
    const unsigned char *how = Q->how - c0;
    double sx2 = (double)kc * (kc + 1) * (2 * kc + 1) / 3.0;
    double sy2 = (double)kr * (kr + 1) * (2 * kr + 1) / 3.0;
    if (way_a && k->sigma == SIGMA_UNIFORM) {
        double s2 = k->sigma2;
        double a = s2 / ((double)wr * sx2 * (k->col_h * k->col_h));
        double b = s2 / ((double)wc * sy2 * (k->row_h * k->row_h));
        for (idx j = c0; j < c1; j++)
            if (how[j] == FIT_AB)
                vr[j] = b, vc[j] = a, vrc[j] = 0.0;
        return;
    }
    if (way_a && k->sigma == SIGMA_RASTER) {
        double den_col = (double)wr * sx2 * k->col_h, den_row = (double)wc * sy2 * k->row_h;
        for (idx j = c0; j < c1; j++) {
            if (how[j] != FIT_AB)
                continue;
            double gc = 0.0, gr = 0.0, grc = 0.0;
            for (int t = 0; t < wr; t++) {
                int slot = Q->slot[t];
                double v = (double)(t - kr);
                gc += gsum(Q, slot, 2)[j - c0];
                gr += (v * v) * gsum(Q, slot, 0)[j - c0];
                grc += v * gsum(Q, slot, 1)[j - c0];
            }
            vc[j] = gc / (den_col * den_col);
            vr[j] = gr / (den_row * den_row);
            vrc[j] = grc / (den_col * den_row);
        }
        return;
    }
    if (way_a) {  /* SIGMA_FIT */
        double mx = sx2 / (double)wc, my = sy2 / (double)wr, sx4 = 0.0, sy4 = 0.0;
        for (int l = 1; l <= kc; l++)
            sx4 += 2.0 * ((double)(l * l) * (double)(l * l));
        for (int v = 1; v <= kr; v++)
            sy4 += 2.0 * ((double)(v * v) * (double)(v * v));
        double n = (double)wr * (double)wc;
        double sxx = (double)wr * sx2, syy = (double)wc * sy2, sxy = sx2 * sy2;
        double saa = (double)wr * (sx4 - sx2 * mx), sbb = (double)wc * (sy4 - sy2 * my);
        double a = 1.0 / (sxx * (k->col_h * k->col_h)), b = 1.0 / (syy * (k->row_h * k->row_h));
        for (idx j = c0; j < c1; j++) {
            if (how[j] != FIT_AB)
                continue;
            idx jj = j - c0;
            double sz = 0.0, sxz = 0.0, zz = 0.0, saz = 0.0, syz = 0.0, sxyz = 0.0, sbz = 0.0;
            for (int t = 0; t < wr; t++) {
                int slot = Q->slot[t];
                sz += zsum(Q, slot, 0)[jj];
                sxz += zsum(Q, slot, 1)[jj];
                saz += zsum(Q, slot, 3)[jj];
                zz += qsum(Q, slot)[jj];
            }
            double mid = zsum(Q, Q->slot[kr], 0)[jj];
            for (int v = 1; v <= kr; v++) {
                double after = zsum(Q, Q->slot[kr + v], 0)[jj];
                double before = zsum(Q, Q->slot[kr - v], 0)[jj];
                double dv = (double)v;
                syz += dv * (after - before);
                sxyz += dv * (zsum(Q, Q->slot[kr + v], 1)[jj] - zsum(Q, Q->slot[kr - v], 1)[jj]);
                sbz += ((double)(v * v) - my) * ((after + before) - 2.0 * mid);
            }
            double c = V(Q->R, i, j), dev = (zz - 2.0 * c * sz) + (c * c) * n, s1 = sz - c * n;
            double rss = dev - (s1 * s1) / n - (sxz * sxz) / sxx - (syz * syz) / syy
                         - (sxyz * sxyz) / sxy - (saz * saz) / saa - (sbz * sbz) / sbb;
            double s2 = (rss > 0.0 ? rss : 0.0) / (n - 6.0);
            vc[j] = s2 * a, vr[j] = s2 * b, vrc[j] = 0.0;
        }
        return;
    }
    if (k->sigma == SIGMA_FIT) {
        for (idx j = c0; j < c1; j++)
            if (how[j] == FIT_AB) {
                double var[3];
                ab_fit_var(Q, i, j, var);
                vr[j] = var[0], vc[j] = var[1], vrc[j] = var[2];
            }
        return;
    }
    /* way B: d = sum_t wp_t Z_1, e = sum_t (wq2_t Z_2 + wq0_t Z_0), in steps */
    double dc = k->col_h * k->col_h, dr = Q->hy * Q->hy, drc = k->col_h * Q->hy;
    if (k->sigma == SIGMA_UNIFORM) {
        double h0 = (double)wc, h2 = 0.0, h4 = 0.0;
        for (int l = 1; l <= kc; l++) {
            double d2 = (double)(l * l);
            h2 += 2.0 * d2;
            h4 += 2.0 * (d2 * d2);
        }
        double vd = 0.0, ve = 0.0;
        for (int t = 0; t < wr; t++) {
            double wp = Q->wp[t], wq2 = Q->wq2[t], wq0 = Q->wq0[t];
            vd += (wp * wp) * h2;
            ve += ((wq2 * wq2) * h4 + 2.0 * (wq2 * wq0) * h2) + (wq0 * wq0) * h0;
        }
        double s2 = k->sigma2, a = (s2 * ve) / dr, b = (s2 * vd) / dc;
        for (idx j = c0; j < c1; j++)
            if (how[j] == FIT_AB)
                vr[j] = a, vc[j] = b, vrc[j] = 0.0;
        return;
    }
    for (idx j = c0; j < c1; j++) {  /* SIGMA_RASTER */
        if (how[j] != FIT_AB)
            continue;
        idx jj = j - c0;
        double vd = 0.0, ve = 0.0, cde = 0.0;
        for (int t = 0; t < wr; t++) {
            int slot = Q->slot[t];
            double wp = Q->wp[t], wq2 = Q->wq2[t], wq0 = Q->wq0[t];
            double g0 = gsum(Q, slot, 0)[jj], g1 = gsum(Q, slot, 1)[jj];
            double g2 = gsum(Q, slot, 2)[jj], g3 = gsum(Q, slot, 3)[jj];
            double g4 = gsum(Q, slot, 4)[jj];
            vd += (wp * wp) * g2;
            ve += ((wq2 * wq2) * g4 + 2.0 * (wq2 * wq0) * g2) + (wq0 * wq0) * g0;
            cde += wp * (wq2 * g3 + wq0 * g1);
        }
        vr[j] = ve / dr, vc[j] = vd / dc, vrc[j] = cde / drc;
    }
}

/* d/drow and d/dcol of row i, columns c0:c1, by the window fit; with Q->second
 * also d/dcol^2, d/drow^2 and d/dcol drow into d_cc, d_rr, d_rc; with var_r
 * (a sigma), their variances and covariance into var_r, var_c, var_rc. */
HOT static void quadratic(Quad *Q, idx i, idx c0, idx c1, double *d_row, double *d_col,
                          double *d_cc, double *d_rr, double *d_rc, double *var_r,
                          double *var_c, double *var_rc)
{
    const Kernel *k = Q->R->k;
    setup_row(Q, i);
    int wr = Q->wr, wc = Q->wc, kr = wr / 2, kc = wc / 2;
    int centred_row = (wr & 1) && Q->ri == i - kr && wr >= 3 && wc >= 3;
    int way_a = centred_row && !k->row_x && !k->col_scale;
    idx a, b;
    centred_columns(Q, &a, &b);
    int way_b = !way_a && a < b && wr >= 3 && wc >= 3 && row_weights(Q);
    int all_whole = 1, second = Q->second;
    int want = way_b ? HAVE_Z01 | HAVE_Z2 : HAVE_Z01;
    if (second && way_a)
        want |= HAVE_D2;
    if (var_r && k->sigma == SIGMA_RASTER && (way_a || way_b))
        want |= HAVE_G;
    if (var_r && k->sigma == SIGMA_FIT && way_a)
        want |= HAVE_D2 | HAVE_Q;
    if (var_r)
        for (idx j = c0; j < c1; j++)
            Q->how[j - c0] = (way_a || way_b) && a <= j && j < b ? FIT_AB : FIT_NONE;
    for (int t = 0; t < wr; t++) {
        Q->slot[t] = ensure(Q, Q->ri + t, want);
        all_whole &= whole(Q, Q->slot[t]);
    }
    double *dr = d_row - c0, *dc = d_col - c0;
    double *rcc = second ? d_cc - c0 : NULL, *rrr = second ? d_rr - c0 : NULL;
    double *rrc = second ? d_rc - c0 : NULL;
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
        if (second) {
            /* a = sum (x^2 - mean) z / (wr sum (l^2 - mean)^2), b likewise over the
             * rows' Z_0, c = sum xy z / sum x^2 y^2: sums of differences */
            double mx = sx2 / (double)wc, my = sy2 / (double)wr, sx4 = 0.0, sy4 = 0.0;
            for (int l = 1; l <= kc; l++)
                sx4 += 2.0 * ((double)(l * l) * (double)(l * l));
            for (int v = 1; v <= kr; v++)
                sy4 += 2.0 * ((double)(v * v) * (double)(v * v));
            double den_cc = (double)wr * (sx4 - sx2 * mx) * (k->col_h * k->col_h);
            double den_rr = (double)wc * (sy4 - sy2 * my) * (k->row_h * k->row_h);
            double den_rc = sx2 * sy2 * (k->col_h * k->row_h);
            const double *mid = zsum(Q, Q->slot[kr], 0) - c0;
            const double *d2 = zsum(Q, Q->slot[kr], 3) - c0;
            for (idx j = a; j < b; j++) {
                rcc[j] = d2[j];
                rrr[j] = 0.0;
                rrc[j] = 0.0;
            }
            for (int v = 1; v <= kr; v++) {
                const double *after = zsum(Q, Q->slot[kr + v], 0) - c0;
                const double *before = zsum(Q, Q->slot[kr - v], 0) - c0;
                const double *after1 = zsum(Q, Q->slot[kr + v], 1) - c0;
                const double *before1 = zsum(Q, Q->slot[kr - v], 1) - c0;
                const double *after2 = zsum(Q, Q->slot[kr + v], 3) - c0;
                const double *before2 = zsum(Q, Q->slot[kr - v], 3) - c0;
                double dv = (double)v, wv = (double)(v * v) - my;
                for (idx j = a; j < b; j++) {
                    rcc[j] += before2[j] + after2[j];
                    rrr[j] += wv * ((after[j] + before[j]) - 2.0 * mid[j]);
                    rrc[j] += dv * (after1[j] - before1[j]);
                }
            }
            for (idx j = a; j < b; j++) {
                rcc[j] = 2.0 * rcc[j] / den_cc;
                rrr[j] = 2.0 * rrr[j] / den_rr;
                rrc[j] = rrc[j] / den_rc;
            }
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
        if (second) {
            for (idx j = a; j < b; j++)
                rcc[j] = rrr[j] = rrc[j] = 0.0;
            for (int t = 0; t < wr; t++) {
                z0 = zsum(Q, Q->slot[t], 0) - c0, z1 = zsum(Q, Q->slot[t], 1) - c0;
                z2 = zsum(Q, Q->slot[t], 2) - c0;
                double wa2 = Q->wa2[t], wa0 = Q->wa0[t], wb2 = Q->wb2[t], wb0 = Q->wb0[t];
                double wxy = Q->wxy[t];
                for (idx j = a; j < b; j++) {
                    rcc[j] += wa2 * z2[j] + wa0 * z0[j];
                    rrr[j] += wb2 * z2[j] + wb0 * z0[j];
                    rrc[j] += wxy * z1[j];
                }
            }
            double den_cc = k->col_h * k->col_h, den_rr = Q->hy * Q->hy;
            double den_rc = k->col_h * Q->hy;
            for (idx j = a; j < b; j++) {
                rcc[j] = 2.0 * rcc[j] / den_cc;
                rrr[j] = 2.0 * rrr[j] / den_rr;
                rrc[j] = rrc[j] / den_rc;
            }
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
            if (second)
                rcc[j] = rrr[j] = rrc[j] = NAN;
            if (var_r) {
                Q->how[j - c0] = FIT_NONE;
                var_r[j - c0] = var_c[j - c0] = var_rc[j - c0] = NAN;
            }
            continue;
        }
        int fit = (way_a || way_b) && a <= j && j < b;
        for (int t = 0; fit && !all_whole && t < wr; t++)
            fit = whole(Q, Q->slot[t]) || hsum(Q, Q->slot[t], 0)[j - c0] == (double)wc;
        if (!fit) {
            double d2[3], var[3];
            way_c(Q, i, j, &dr[j], &dc[j], d2, var_r ? var : NULL);
            if (second)
                rcc[j] = d2[0], rrr[j] = d2[1], rrc[j] = d2[2];
            if (var_r) {
                Q->how[j - c0] = FIT_C;
                var_r[j - c0] = var[0], var_c[j - c0] = var[1], var_rc[j - c0] = var[2];
            }
        } else if (way_b && nearly_flat(Q, i, j, dc[j] * col_h, dr[j] * hy)) {
            dr[j] = dc[j] = 0.0;
            if (second)
                rcc[j] = rrr[j] = rrc[j] = 0.0;
        }
    }
    if (var_r && (way_a || way_b))
        ab_variances(Q, i, c0, c1, way_a, var_r, var_c, var_rc);
}

/* ---- the arctangent: vectorised, within 1 ulp of a correctly rounded one ---- */

/* Cephes' atan (S. L. Moshier, Cephes Math Library 2.8, atan.c; Moshier,
 * "Methods and Programs for Mathematical Functions", 1989): the argument is
 * reduced to |t| <= 0.66 (t = -1/x above tan 3pi/8, (x-1)/(x+1) above 0.66),
 * and atan t = t + t^3 P(t^2)/Q(t^2), a rational function of degree 4/5.
 * Moshier's stated peak relative error over [-10, 10] (IEEE double, 10^6
 * trials) is 1.8e-16; tests/test_kernel.py measures it against Python's
 * math.atan (the C library's). Every lane does the same operations in the same
 * order as Cephes' scalar code, so vectorised and scalar results are the same
 * bits. The three ranges are selected, not branched to, so that GCC vectorises
 * the loops that call it (setup.py's -fno-trapping-math lets it evaluate every
 * range's operations, which cannot fail, in every lane). */
static const double ATAN_P[5] = {
    -8.750608600031904122785e-1, -1.615753718733365076637e1, -7.500855792314704667340e1,
    -1.228866684490136173410e2, -6.485021904942025371773e1,
};
static const double ATAN_Q[5] = {  /* and a leading 1 */
    2.485846490142306297962e1, 1.650270098316988542046e2, 4.328810604912902668951e2,
    4.853903996359136964868e2, 1.945506571482613964425e2,
};
static const double TAN_3PI_8 = 2.41421356237309504880;
static const double PI_2 = 1.57079632679489661923, PI_4 = 7.85398163397448309616e-1;
static const double PI = 3.14159265358979323846;
static const double PI_2_LOW = 6.123233995736765886130e-17;  /* pi/2 - PI_2 */

static inline double arctan(double x)
{
    double a = fabs(x);
    double num = a > TAN_3PI_8 ? -1.0 : a > 0.66 ? a - 1.0 : a;
    double den = a > TAN_3PI_8 ? a : a > 0.66 ? a + 1.0 : 1.0;
    double t = num / den, z = t * t;
    double p = (((ATAN_P[0] * z + ATAN_P[1]) * z + ATAN_P[2]) * z + ATAN_P[3]) * z + ATAN_P[4];
    double q = ((((z + ATAN_Q[0]) * z + ATAN_Q[1]) * z + ATAN_Q[2]) * z + ATAN_Q[3]) * z
               + ATAN_Q[4];
    z = t * (z * p / q) + t;
    z += a > TAN_3PI_8 ? PI_2_LOW : a > 0.66 ? 0.5 * PI_2_LOW : 0.0;
    return copysign((a > TAN_3PI_8 ? PI_2 : a > 0.66 ? PI_4 : 0.0) + z, x);
}

/* atan2(y, x) on arctan, as Cephes' atan2.c builds it: atan(y / x), plus or
 * minus pi for x < 0; C99's results for zeros (signed), infinities and NaN.
 * Written without signbit and int flags, which GCC does not vectorise. */
static inline double arctan2(double y, double x)
{
    int infinite = fabs(x) > DBL_MAX && fabs(y) > DBL_MAX;  /* atan2(inf, inf) is pi/4 */
    double yy = infinite ? copysign(1.0, y) : y, xx = infinite ? copysign(1.0, x) : x;
    double z = arctan(yy / xx);
    double r = xx < 0.0 ? copysign(PI, y) + z : z;
    double positive = copysign(0.5, x) + 0.5;  /* 1 for x from +0 up, 0 from -0 down */
    double on_axis = y == 0.0 ? copysign(PI - PI * positive, y) : copysign(PI_2, y);
    r = x == 0.0 ? on_axis : r;
    return y != y ? y : r;
}

/* ---- products and their encoding ---- */

static inline double slope_of(double dzdx, double dzdy, int units)
{
    double ratio = sqrt(dzdx * dzdx + dzdy * dzdy);
    switch (units) {
    case RATIO: return ratio;
    case PERCENT: return 100.0 * ratio;
    case DEGREES: return arctan(ratio) * DEGREES_PER_RADIAN;
    default: return arctan(ratio);
    }
}

static inline double aspect_of(double dzdx, double dzdy)
{
    /* In [-180, 180]: numpy's % 360 (the remainder takes the divisor's sign)
     * adds 360 to a negative bearing and leaves the rest, -0 made +0. */
    double bearing = arctan2(-dzdx, -dzdy) * DEGREES_PER_RADIAN;
    bearing = bearing < 0 ? bearing + 360.0 : bearing + 0.0;
    /* a bearing a hair below 0 wraps to 360.0 in floating point: that is north */
    bearing = bearing >= 360.0 ? 0.0 : bearing;
    bearing = dzdx == 0 && dzdy == 0 ? NAN : bearing;  /* flat: no aspect */
    return dzdx != dzdx || dzdy != dzdy ? NAN : bearing;
}

static inline double hillshade_of(const double *light, double dzdx, double dzdy)
{
    double towards_light = light[0] * dzdx + light[1] * dzdy;
    double cos_angle = (light[2] - light[3] * towards_light)
                       / sqrt(1.0 + dzdx * dzdx + dzdy * dzdy);
    double shade = 254.0 * cos_angle;
    return shade <= 0.0 ? 1.0 : 1.0 + shade;
}

/* out[offset:offset + n] = v, encoded: a loop per output type, to vectorise. */
static inline void store(const Kernel *k, idx offset, const double *v, idx n)
{
    double nodata = k->nodata;
    switch (k->out_type) {
    case OUT_F64: {
        double *out = (double *)k->out + offset;
        for (idx x = 0; x < n; x++)
            out[x] = isnan(v[x]) ? nodata : v[x];
        break;
    }
    case OUT_F32: {
        float *out = (float *)k->out + offset, nodata32 = (float)nodata;
        for (idx x = 0; x < n; x++)
            out[x] = isnan(v[x]) ? nodata32 : (float)v[x];
        break;
    }
    default: {  /* gdaldem's Byte: rounded half up, clamped, 0 for nodata */
        unsigned char *out = (unsigned char *)k->out + offset;
        for (idx x = 0; x < n; x++) {
            double clamped = v[x] > 0.0 ? (v[x] < 255.0 ? v[x] : 255.0) : 0.0;
            out[x] = isnan(v[x]) ? 0 : (unsigned char)floor(clamped + 0.5);
        }
    }
    }
}

/* Pixels per run of encode: the products of a run stay in L1 until stored. */
enum { RUN = 256 };

/* Encode row i's derivatives (dz/dx in d_col, dz/dy in d_row) at out row r. */
HOT static void encode(const Kernel *k, idx r, idx width, const double *d_row, const double *d_col)
{
    idx base = r * width, band = k->out_rows * width;
    if (k->kind == GRADIENT) {
        store(k, base, d_col, width);
        store(k, band + base, d_row, width);
        return;
    }
    int kind = k->kind, units = k->units;
    double light[4], v[RUN];
    memcpy(light, k->light, sizeof light);
    for (idx x0 = 0; x0 < width; x0 += RUN) {
        idx n = width - x0 < RUN ? width - x0 : RUN;
        const double *p = d_col + x0, *q = d_row + x0;
        /* a loop per product and unit, each vectorised */
        if (kind == SLOPE && units == RATIO)
            for (idx x = 0; x < n; x++) v[x] = slope_of(p[x], q[x], RATIO);
        else if (kind == SLOPE && units == PERCENT)
            for (idx x = 0; x < n; x++) v[x] = slope_of(p[x], q[x], PERCENT);
        else if (kind == SLOPE && units == DEGREES)
            for (idx x = 0; x < n; x++) v[x] = slope_of(p[x], q[x], DEGREES);
        else if (kind == SLOPE)
            for (idx x = 0; x < n; x++) v[x] = slope_of(p[x], q[x], RADIANS);
        else if (kind == ASPECT)
            for (idx x = 0; x < n; x++) v[x] = aspect_of(p[x], q[x]);
        else
            for (idx x = 0; x < n; x++) v[x] = hillshade_of(light, p[x], q[x]);
        store(k, base + x0, v, n);
    }
}

/* ---- standard errors of the products: first-order propagation ---- */

/*
 * From p = dz/dx, q = dz/dy and their covariance (vx, vy, cxy, metres):
 *   slope S = sqrt(p^2 + q^2):  Var S = (p^2 vx + 2pq cxy + q^2 vy) / S^2
 *   degrees, radians: d atan(S) / dS = 1 / (1 + S^2)
 *   aspect atan2(-p, -q):       Var A = (q^2 vx - 2pq cxy + p^2 vy) / S^4
 * (Florinsky 1998). First order fails where S is within noise of 0: where S
 * is below twice that standard error (S^4 <= 4 S^2 Var S, flat ground
 * included) the slope's is sqrt(vx + vy), the root-mean-square error of the
 * slope of flat ground (E S^2 = vx + vy there), and the aspect's 360/sqrt(12)
 * degrees, that of a direction drawn at random; no aspect's is more than that.
 */

/* The standard deviation of a compass direction uniform on [0, 360): no information. */
static const double ASPECT_UNIFORM_SE = 103.92304845413263;  /* 360 / sqrt(12) */

static inline double slope_se(double p, double q, double vx, double vy, double cxy, int units)
{
    double s2 = p * p + q * q;
    double num = ((p * p) * vx + 2.0 * (p * q) * cxy) + (q * q) * vy;
    num = num < 0.0 ? 0.0 : num;  /* rounding; NaN stays NaN */
    double se = s2 * s2 <= 4.0 * num ? sqrt(vx + vy) : sqrt(num / s2);
    switch (units) {
    case RATIO: return se;
    case PERCENT: return 100.0 * se;
    case DEGREES: return se / (1.0 + s2) * DEGREES_PER_RADIAN;
    default: return se / (1.0 + s2);
    }
}

static inline double aspect_se(double p, double q, double vx, double vy, double cxy)
{
    double s2 = p * p + q * q;
    double num = ((p * p) * vx + 2.0 * (p * q) * cxy) + (q * q) * vy;
    num = num < 0.0 ? 0.0 : num;
    double across = ((q * q) * vx - 2.0 * (p * q) * cxy) + (p * p) * vy;
    across = across < 0.0 ? 0.0 : across;
    double se = sqrt(across) / s2 * DEGREES_PER_RADIAN;
    se = se > ASPECT_UNIFORM_SE ? ASPECT_UNIFORM_SE : se;  /* NaN stays NaN */
    se = s2 * s2 <= 4.0 * num ? ASPECT_UNIFORM_SE : se;
    return s2 == 0.0 || p != p || q != q ? NAN : se;  /* no aspect, no error */
}

/* Encode row i's standard errors at out row r into k->unc (the output's bands). */
HOT static void encode_se(const Kernel *k, idx r, idx width, const double *d_row,
                          const double *d_col, const double *vy, const double *vx,
                          const double *cxy)
{
    idx base = r * width, band = k->out_rows * width;
    double v[RUN];
    Kernel u = *k;
    u.out = k->unc;
    for (idx x0 = 0; x0 < width; x0 += RUN) {
        idx n = width - x0 < RUN ? width - x0 : RUN;
        const double *p = d_col + x0, *q = d_row + x0;
        const double *ax = vx + x0, *ay = vy + x0, *axy = cxy + x0;
        if (k->kind == GRADIENT) {
            for (idx x = 0; x < n; x++) v[x] = p[x] != p[x] ? NAN : sqrt(ax[x]);
            store(&u, base + x0, v, n);
            for (idx x = 0; x < n; x++) v[x] = q[x] != q[x] ? NAN : sqrt(ay[x]);
            store(&u, band + base + x0, v, n);
            continue;
        }
        if (k->kind == ASPECT)
            for (idx x = 0; x < n; x++) v[x] = aspect_se(p[x], q[x], ax[x], ay[x], axy[x]);
        else
            for (idx x = 0; x < n; x++)
                v[x] = slope_se(p[x], q[x], ax[x], ay[x], axy[x], k->units);
        store(&u, base + x0, v, n);
    }
}

/* ---- curvatures: products of p, q, r, s, t (metres east and north) ---- */

/*
 * p = dz/dx, q = dz/dy, r = d2z/dx2, s = d2z/dxdy, t = d2z/dy2 (x east, y
 * north); g = p^2 + q^2, w = 1 + g. Positive is convex (Evans 1980; Wood 1996;
 * Minar et al. 2020; Florinsky 2016):
 *   profile     -(p^2 r + 2pq s + q^2 t) / (g w^1.5)   normal slope-line curvature
 *   tangential  -(q^2 r - 2pq s + p^2 t) / (g w^0.5)   normal contour curvature
 *   plan        -(q^2 r - 2pq s + p^2 t) / g^1.5       contour curvature
 *   mean        -((1 + q^2) r - 2pq s + (1 + p^2) t) / (2 w^1.5)
 *   gaussian    (rt - s^2) / w^2
 *   maximal, minimal: mean +- sqrt(mean^2 - gaussian)
 *   dxx, dyy, dxy: r, t, s
 * profile, tangential and plan have no direction where p = q = 0: NaN, as
 * aspect. mean^2 - gaussian is ((k1 - k2) / 2)^2 >= 0; rounding leaves it a few
 * ulps below 0 where k1 = k2 (an umbilic: a sphere's cap), taken as 0.
 */
static inline double curvature_of(int kind, double p, double q, double r, double s, double t)
{
    double p2 = p * p, q2 = q * q, pq2 = 2.0 * (p * q), g = p2 + q2, w = 1.0 + g;
    switch (kind) {
    case PROFILE:
        return g == 0.0 ? NAN : -((p2 * r + pq2 * s) + q2 * t) / (g * (w * sqrt(w)));
    case TANGENTIAL:
        return g == 0.0 ? NAN : -((q2 * r - pq2 * s) + p2 * t) / (g * sqrt(w));
    case PLAN:
        return g == 0.0 ? NAN : -((q2 * r - pq2 * s) + p2 * t) / (g * sqrt(g));
    case GAUSSIAN:
        return (r * t - s * s) / (w * w);
    case DXX: return r;
    case DYY: return t;
    case DXY: return s;
    default: {
        double mean = -(((1.0 + q2) * r - pq2 * s) + (1.0 + p2) * t) / (2.0 * (w * sqrt(w)));
        if (kind == MEAN)
            return mean;
        double radicand = mean * mean - (r * t - s * s) / (w * w);
        double root = sqrt(radicand < 0.0 ? 0.0 : radicand);  /* NaN stays NaN */
        return kind == MAXIMAL ? mean + root : mean - root;
    }
    }
}

/* Row i's curvatures at out row r, one band per kind, float64 or float32, nodata for NaN. */
HOT static void curvatures(const Kernel *k, idx r, idx width, const double *d_row,
                           const double *d_col, const double *d_xx, const double *d_yy,
                           const double *d_xy)
{
    for (int band = 0; band < k->n_kinds; band++) {
        int kind = k->kinds[band];
        idx base = ((idx)band * k->out_rows + r) * width;
        if (k->out_type == OUT_F64) {
            double *out = (double *)k->out + base;
            for (idx x = 0; x < width; x++) {
                double v = curvature_of(kind, d_col[x], d_row[x], d_xx[x], d_xy[x], d_yy[x]);
                out[x] = isnan(v) ? k->nodata : v;
            }
        } else {
            float *out = (float *)k->out + base, nodata = (float)k->nodata;
            for (idx x = 0; x < width; x++) {
                double v = curvature_of(kind, d_col[x], d_row[x], d_xx[x], d_xy[x], d_yy[x]);
                out[x] = isnan(v) ? nodata : (float)v;
            }
        }
    }
}

/* The window fit's sums and weights for `size` ring rows and `width` output columns. */
static int quad_init(Quad *Q, Rows *R, idx c0, idx width, int size)
{
    size_t w = (size_t)width, n = (size_t)size, m = (size_t)R->k->m;
    size_t doubles = n * 4 * w + n * 5 * w + 5 * w + m + 5 * n + 15 * n + 5 * n + 5 * n;
    double *block = malloc(sizeof(double) * doubles + (sizeof(idx) + 2 * sizeof(int) + 1) * n);
    if (!block)
        return -1;
    Q->gs = Q->qs = Q->sv = Q->sigma_block = NULL;
    Q->how = NULL;
    if (R->k->sigma) {
        int raster = R->k->sigma == SIGMA_RASTER, fit = R->k->sigma == SIGMA_FIT;
        size_t gn = raster ? n * 5 * w : 0, sn = raster ? m : 0, qn = fit ? n * w : 0;
        double *extra = malloc(sizeof(double) * (gn + sn + qn) + w + 1);
        if (!extra) {
            free(block);
            return -1;
        }
        Q->sigma_block = extra;
        Q->gs = raster ? extra : NULL;
        Q->sv = raster ? extra + gn : NULL;
        Q->qs = fit ? extra + gn + sn : NULL;
        Q->how = (unsigned char *)(extra + gn + sn + qn);
    }
    Q->R = R, Q->c0 = c0, Q->width = width, Q->tmpl_wc = -1;
    Q->second = R->k->kind == CURVATURE;
    Q->zs = block;
    Q->hs = Q->zs + n * 4 * w;
    Q->tmpl = Q->hs + n * 5 * w;
    Q->v = Q->tmpl + 5 * w;
    Q->y = Q->v + m;
    Q->s = Q->y + n, Q->wp = Q->s + n, Q->wq2 = Q->wp + n, Q->wq0 = Q->wq2 + n;
    Q->wm = Q->wq0 + n;
    Q->wi = Q->wm + 15 * n;
    Q->wxy = Q->wi + 5 * n, Q->wa2 = Q->wxy + n, Q->wa0 = Q->wa2 + n;
    Q->wb2 = Q->wa0 + n, Q->wb0 = Q->wb2 + n;
    Q->row = (idx *)(Q->wb0 + n);
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
    Rows R = {k, NULL, NULL, NULL, NULL, NULL, size, c0 > reach ? c0 - reach : 0,
              c1 + reach < m ? c1 + reach : m};
    size_t ring = (size_t)size * (size_t)m;
    int second = k->kind == CURVATURE;
    double *d = malloc(sizeof(double) * ((size_t)(2 * width) + ring)
                       + (sizeof(idx) + sizeof(int) + 1) * (size_t)size + ring);
    double *d2 = second ? malloc(sizeof(double) * 3 * (size_t)width) : NULL;
    /* the variances of d/drow, d/dcol and their covariance; sigma^2 of the ring's rows */
    double *vars = k->sigma ? malloc(sizeof(double) * (3 * (size_t)width
                                                       + (k->zs ? ring : 0))) : NULL;
    Quad Q;
    memset(&Q, 0, sizeof Q);
    R.sring = vars && k->zs ? vars + 3 * width : NULL;
    if (!d || (second && !d2) || (k->sigma && !vars)
        || (k->method == QUADRATIC && quad_init(&Q, &R, c0, width, size) < 0)) {
        free(d);
        free(d2);
        free(vars);
        return -1;
    }
    double *var_r = vars, *var_c = vars ? vars + width : NULL;
    double *var_rc = vars ? vars + 2 * width : NULL;
    /* the second derivatives d/dcol^2, d/drow^2, d/dcol drow; then d2z/dx2, d2z/dy2, d2z/dxdy */
    double *d_cc = d2, *d_rr = second ? d2 + width : NULL, *d_rc = second ? d2 + 2 * width : NULL;
    double *d_row = d, *d_col = d + width;
    R.ring = d + 2 * width;
    R.slot_row = (idx *)(R.ring + ring);
    R.slot_full = (int *)(R.slot_row + size);
    R.ring_ok = (unsigned char *)(R.slot_full + size);
    for (int slot = 0; slot < size; slot++)
        R.slot_row[slot] = -1, R.slot_full[slot] = 0;
    for (idx i = r0; i < r1; i++) {
        if (k->method == QUADRATIC) {
            quadratic(&Q, i, c0, c1, d_row, d_col, d_cc, d_rr, d_rc, var_r, var_c, var_rc);
        } else {
            derivatives(&R, i, c0, c1, d_row, d_col);
            if (vars)
                variances(&R, i, c0, c1, var_r, var_c, var_rc);
        }
        if (vars) {
            /* the covariance to metres as the gradient: T C T^T, T = J^-T, or the
             * column derivative over the row's parallel radius */
            if (k->jac) {
                const double *j = k->jac;
                for (idx x = 0; x < width; x++) {
                    double cc = var_c[x], rr = var_r[x], rc = var_rc[x];
                    var_c[x] = ((j[0] * j[0]) * cc + 2.0 * (j[0] * j[1]) * rc) + (j[1] * j[1]) * rr;
                    var_r[x] = ((j[2] * j[2]) * cc + 2.0 * (j[2] * j[3]) * rc) + (j[3] * j[3]) * rr;
                    var_rc[x] = ((j[0] * j[2]) * cc + (j[0] * j[3] + j[1] * j[2]) * rc)
                                + (j[1] * j[3]) * rr;
                }
            } else if (k->col_scale) {
                double scale = k->col_scale[i];
                for (idx x = 0; x < width; x++) {
                    var_c[x] = var_c[x] / (scale * scale);
                    var_rc[x] = var_rc[x] / scale;
                }
            }
        }
        if (second) {
            /* to metres as the gradient below: H_world = J^-T H_pixel J^-1, or
             * the column derivative over the row's parallel radius (squared in r) */
            if (k->jac) {
                const double *j = k->jac;
                for (idx x = 0; x < width; x++) {
                    double cc = d_cc[x], rr = d_rr[x], rc = d_rc[x];
                    d_cc[x] = (j[0] * j[0]) * cc + 2.0 * (j[0] * j[1]) * rc + (j[1] * j[1]) * rr;
                    d_rr[x] = (j[2] * j[2]) * cc + 2.0 * (j[2] * j[3]) * rc + (j[3] * j[3]) * rr;
                    d_rc[x] = (j[0] * j[2]) * cc + (j[0] * j[3] + j[1] * j[2]) * rc
                              + (j[1] * j[3]) * rr;
                }
            } else if (k->col_scale) {
                double scale = k->col_scale[i];
                for (idx x = 0; x < width; x++) {
                    d_cc[x] = d_cc[x] / (scale * scale);
                    d_rc[x] = d_rc[x] / scale;
                }
            }
        }
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
        if (second)
            curvatures(k, out_row + i - r0, width, d_row, d_col, d_cc, d_rr, d_rc);
        else
            encode(k, out_row + i - r0, width, d_row, d_col);
        if (vars)  /* dz/dy's variance in var_r, dz/dx's in var_c */
            encode_se(k, out_row + i - r0, width, d_row, d_col, var_r, var_c, var_rc);
    }
    free(Q.zs);
    free(Q.sigma_block);
    free(d);
    free(d2);
    free(vars);
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
"      nodata, out, out_row, window, kinds, sigma, sigma_value, z_sigma,\n"
"      sigma_factor, uncertainty)\n\n"
"Rows r0:r1, columns c0:c1 of z's output bands into out (bands, rows, c1 - c0),\n"
"row r0 at out row out_row; terrain.core.fused documents the arguments.\n"
"Optional arrays are None; window (the quadratic method's) is an int32 array\n"
"of z's rows x 2: each row's window rows and columns; kinds (the curvature\n"
"product's) an int32 array of the curvature of each band (terrain.core.CURVATURES).\n"
"sigma (terrain.core.SIGMAS' index, 0 for none) asks for standard errors into\n"
"uncertainty (out's type and shape): sigma_value metres (uniform), z_sigma an\n"
"n x m float32 or float64 array of sigmas times sigma_factor metres (raster),\n"
"or the window fit's residuals (fit).\n"
"Releases the GIL while it computes.");

static PyObject *fused(PyObject *self, PyObject *args)
{
    PyObject *z_o, *mask_o, *nodata_o, *row_x_o, *col_x_o, *row_step_o, *col_step_o, *scale_o,
        *jac_o, *light_o, *out_o, *win_o = Py_None, *kinds_o = Py_None, *zs_o = Py_None,
        *unc_o = Py_None;
    double sigma_value = 0.0;
    idx r0, r1, c0, c1, out_row;
    Kernel k;
    memset(&k, 0, sizeof k);
    if (!PyArg_ParseTuple(args, "OOOpnnnniidOdOOOOOdiiOdOn|OOidOdO", &z_o, &mask_o, &nodata_o,
                          &k.finite, &r0, &r1, &c0, &c1, &k.method, &k.edge_order,
                          &k.row_h, &row_x_o, &k.col_h, &col_x_o, &row_step_o, &col_step_o,
                          &scale_o, &jac_o, &k.z_factor,
                          &k.kind, &k.units, &light_o, &k.nodata, &out_o, &out_row, &win_o,
                          &kinds_o, &k.sigma, &sigma_value, &zs_o, &k.sigma_factor, &unc_o))
        return NULL;

    enum { Z, MASK, ROW_X, COL_X, ROW_STEP, COL_STEP, SCALE, JAC, LIGHT, OUT, WIN, KINDS,
           ZS, UNC, NVIEWS };
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
    if (k.kind < GRADIENT || k.kind > CURVATURE || k.units < RATIO || k.units > RADIANS) {
        PyErr_SetString(PyExc_ValueError, "unknown product or units");
        goto done;
    }
    int bands = k.kind == GRADIENT ? 2 : 1;
    if (k.kind == CURVATURE) {
        if (k.method != QUADRATIC) {
            PyErr_SetString(PyExc_ValueError, "curvatures need the quadratic method");
            goto done;
        }
        if (kinds_o == Py_None) {
            PyErr_SetString(PyExc_ValueError, "the curvature product needs kinds");
            goto done;
        }
        if (get(kinds_o, &views[KINDS], PyBUF_SIMPLE, 1, "i", "kinds") < 0)
            goto done;
        held[KINDS] = 1;
        k.kinds = views[KINDS].buf;
        k.n_kinds = (int)views[KINDS].shape[0];
        bands = k.n_kinds;
        for (int b = 0; b < k.n_kinds; b++)
            if (k.kinds[b] < 0 || k.kinds[b] >= N_CURVATURES) {
                PyErr_SetString(PyExc_ValueError, "kinds: unknown curvature");
                goto done;
            }
        if (k.n_kinds < 1) {
            PyErr_SetString(PyExc_ValueError, "kinds: at least one curvature");
            goto done;
        }
    }
    /* "dfB" in OUT_F64, OUT_F32, OUT_U8's order; curvatures are float */
    const char *types = k.kind == CURVATURE ? "df" : "dfB";
    if ((k.out_type = get(out_o, &views[OUT], PyBUF_WRITABLE, 3, types, "out")) < 0)
        goto done;
    held[OUT] = 1;
    k.out = views[OUT].buf;
    k.out_rows = views[OUT].shape[1];
    if (k.n < 2 || k.m < 2 || r0 < 0 || r1 > k.n || r0 > r1 || c0 < 0 || c1 > k.m || c0 > c1
        || views[OUT].shape[0] != bands
        || views[OUT].shape[2] != c1 - c0 || out_row < 0
        || out_row + (r1 - r0) > k.out_rows) {
        PyErr_SetString(PyExc_ValueError, "rows, columns or out do not fit z");
        goto done;
    }
    if (k.sigma < SIGMA_NONE || k.sigma > SIGMA_FIT) {
        PyErr_SetString(PyExc_ValueError, "unknown sigma");
        goto done;
    }
    if (k.sigma) {
        if (k.kind != GRADIENT && k.kind != SLOPE && k.kind != ASPECT) {
            PyErr_SetString(PyExc_ValueError,
                            "standard errors go with the gradient, slope and aspect");
            goto done;
        }
        if (k.sigma == SIGMA_FIT && k.method != QUADRATIC) {
            PyErr_SetString(PyExc_ValueError, "sigma from the residuals needs the window fit");
            goto done;
        }
        if (k.sigma == SIGMA_UNIFORM && !(sigma_value >= 0.0 && sigma_value < INFINITY)) {
            PyErr_SetString(PyExc_ValueError, "sigma must be a finite number, 0 or more");
            goto done;
        }
        k.sigma2 = k.sigma == SIGMA_UNIFORM ? sigma_value * sigma_value : NAN;
        if (k.sigma == SIGMA_RASTER) {
            int fz = zs_o == Py_None ? -1 : get(zs_o, &views[ZS], PyBUF_SIMPLE, 2, "fd",
                                                "z_sigma");
            if (fz < 0) {
                if (!PyErr_Occurred())
                    PyErr_SetString(PyExc_ValueError, "a sigma raster needs z_sigma");
                goto done;
            }
            held[ZS] = 1;
            if (views[ZS].shape[0] != k.n || views[ZS].shape[1] != k.m) {
                PyErr_SetString(PyExc_ValueError, "z_sigma: not the shape of z");
                goto done;
            }
            k.zs = views[ZS].buf;
            k.zs_f32 = fz == 0;
        }
        if (unc_o == Py_None) {
            PyErr_SetString(PyExc_ValueError, "standard errors need uncertainty");
            goto done;
        }
        if (get(unc_o, &views[UNC], PyBUF_WRITABLE, 3, k.out_type == OUT_F64 ? "d" : "f",
                "uncertainty") < 0)
            goto done;
        held[UNC] = 1;
        if (views[UNC].shape[0] != views[OUT].shape[0] || views[UNC].shape[1] != k.out_rows
            || views[UNC].shape[2] != views[OUT].shape[2]) {
            PyErr_SetString(PyExc_ValueError, "uncertainty: not the shape of out");
            goto done;
        }
        k.unc = views[UNC].buf;
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
