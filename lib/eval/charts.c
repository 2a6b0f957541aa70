// charts.c: the SVG line and bar charts of charts.h, written by hand as plain
// text (svg.h). Both share one frame: title on top, the y axis with its grid
// on the left of the plot area, the legend on its right.
#include "eval/charts.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "eval/svg.h"

// Sizes in pixels; FEW_POINTS: the most points a line chart marks one by one.
enum { PLOT_H = 300, LINE_PLOT_W = 560, BAR_W = 32, MIN_GROUP_W = 100, LEGEND_ROW = 18, TITLE_FONT = 14 };
enum { FEW_POINTS = 30 };

// Okabe-Ito colours, told apart by the colour-blind (its yellow left out: too
// faint on white). Past them the colours come round again, dashed, then dotted.
static const char *const COLOURS[] = {"#0072b2", "#e69f00", "#009e73", "#d55e00",
                                      "#cc79a7", "#56b4e9", "#000000", "#999999"};
enum { NCOLOURS = sizeof COLOURS / sizeof *COLOURS };
static const char *const DASHES[] = {"", " stroke-dasharray=\"8 4\"", " stroke-dasharray=\"2 3\""};

static const char *colour(int k) { return COLOURS[k % NCOLOURS]; }
static const char *dash(int k) { return DASHES[(k / NCOLOURS) % 3]; }

// ---- axes ------------------------------------------------------------------

typedef struct {
    double step;         // between ticks
    long first, last;    // the ends, in steps: lo = first * step, hi = last * step
    int decimals;        // of the tick labels
} axis;

static double axis_lo(const axis *a) { return a->first * a->step; }
static double axis_hi(const axis *a) { return a->last * a->step; }

// Round-numbered ticks over [lo, hi]: a step of 1, 2 or 5 times a power of
// ten giving about `intervals` intervals (and at least min_step), the ends
// widened to multiples of it. Without data (lo > hi) the axis is [0, 1]; a
// single value is put in the middle of one.
static axis make_axis(double lo, double hi, int intervals, double min_step) {
    if (!(lo <= hi)) lo = 0, hi = 1;
    if (hi == lo) lo -= 0.5, hi += 0.5;
    double raw = (hi - lo) / intervals, mag = pow(10, floor(log10(raw))), f = raw / mag;
    double step = fmax((f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag, min_step);
    // The epsilons keep a value that is a multiple up to rounding from adding a step.
    return (axis){step, (long)floor(lo / step + 1e-9), (long)ceil(hi / step - 1e-9),
                  (int)fmax(0, ceil(-log10(step) - 1e-9))};
}

static void tick_text(const axis *a, long k, char *buf, size_t n) {
    snprintf(buf, n, "%.*f", a->decimals, k * a->step);
}

// Where v lies on the axis, from 0 (its low end) to len (its high end).
static double axis_at(const axis *a, double v, double len) {
    return (v - axis_lo(a)) / (axis_hi(a) - axis_lo(a)) * len;
}

// ---- the frame ---------------------------------------------------------------

typedef struct {
    double left, top, w, h;  // the plot area
    double width, height;    // the picture
    axis y;
} frame;

static double frame_y(const frame *f, double v) { return f->top + f->h - axis_at(&f->y, v, f->h); }

// Sizes the picture around a plot area plot_w wide: room on the left for the
// y axis title and tick labels, on the right for a legend of nlegend names
// at most legend_chars long, and on top for the title.
static frame make_frame(const chart_text *t, axis y, double plot_w, int nlegend, size_t legend_chars) {
    size_t widest = 0;
    for (long k = y.first; k <= y.last; k++) {
        char tick[32];
        tick_text(&y, k, tick, sizeof tick);
        if (strlen(tick) > widest) widest = strlen(tick);
    }
    frame f = {.left = 34 + widest * SVG_CHAR_W, .top = 44, .w = plot_w, .h = PLOT_H, .y = y};
    double legend_w = 56 + legend_chars * SVG_CHAR_W;
    f.width = fmax(f.left + f.w + legend_w, 20 + strlen(t->title) * 0.6 * TITLE_FONT);
    f.height = fmax(f.top + f.h + 50, f.top + (nlegend + 1) * LEGEND_ROW);
    return f;
}

// The picture up to the data: title, axis titles, horizontal grid lines with
// the y tick labels, and the two axis lines.
static void frame_begin(FILE *fp, const frame *f, const chart_text *t) {
    svg_begin(fp, f->width, f->height);
    char extra[96];
    snprintf(extra, sizeof extra, " font-size=\"%d\" font-weight=\"bold\"", TITLE_FONT);
    svg_label(fp, 10, 22, "start", extra, t->title);
    double mid = f->top + f->h / 2;
    snprintf(extra, sizeof extra, " transform=\"rotate(-90 16 %.1f)\"", mid);
    svg_label(fp, 16, mid, "middle", extra, t->y_label);
    if (t->x_label) svg_label(fp, f->left + f->w / 2, f->top + f->h + 40, "middle", "", t->x_label);
    for (long k = f->y.first; k <= f->y.last; k++) {
        double y = frame_y(f, k * f->y.step);
        char tick[32];
        tick_text(&f->y, k, tick, sizeof tick);
        fprintf(fp, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n", f->left, y,
                f->left + f->w, y);
        svg_label(fp, f->left - 6, y, "end", " dominant-baseline=\"central\"", tick);
    }
    fprintf(fp, "<path d=\"M%.1f %.1f V%.1f H%.1f\" fill=\"none\" stroke=\"#444444\"/>\n", f->left, f->top,
            f->top + f->h, f->left + f->w);
}

// Legend entry k, right of the plot: a short line, or a square for bars.
static void legend_entry(FILE *fp, const frame *f, int k, const char *name, bool square) {
    double x = f->left + f->w + 16, y = f->top + (k + 0.5) * LEGEND_ROW;
    if (square)
        fprintf(fp, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"12\" fill=\"%s\"/>\n", x + 6, y - 6, colour(k));
    else
        fprintf(fp, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"%s/>\n", x,
                y, x + 26, y, colour(k), dash(k));
    svg_label(fp, x + 32, y, "start", " dominant-baseline=\"central\"", name);
}

// ---- the charts ------------------------------------------------------------------

static bool finite_point(const line_series *s, int i) { return isfinite(s->x[i]) && isfinite(s->y[i]); }

void line_chart_svg(FILE *fp, const chart_text *t, const line_series *s, int ns) {
    double x0 = INFINITY, x1 = -INFINITY, y0 = 0, y1 = 0;
    bool whole = true;
    size_t longest = 0;
    int most = 0;  // points in the longest series
    for (int k = 0; k < ns; k++) {
        if (strlen(s[k].name) > longest) longest = strlen(s[k].name);
        if (s[k].n > most) most = s[k].n;
        for (int i = 0; i < s[k].n; i++) {
            if (!finite_point(&s[k], i)) continue;
            x0 = fmin(x0, s[k].x[i]), x1 = fmax(x1, s[k].x[i]);
            y0 = fmin(y0, s[k].y[i]), y1 = fmax(y1, s[k].y[i]);
            whole = whole && s[k].x[i] == floor(s[k].x[i]);
        }
    }
    axis x = make_axis(x0, x1, 8, whole ? 1 : 0);
    frame f = make_frame(t, make_axis(y0, y1, 6, 0), LINE_PLOT_W, ns, longest);
    frame_begin(fp, &f, t);
    double bottom = f.top + f.h;
    for (long k = x.first; k <= x.last; k++) {
        double px = f.left + axis_at(&x, k * x.step, f.w);
        char tick[32];
        tick_text(&x, k, tick, sizeof tick);
        fprintf(fp, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444444\"/>\n", px, bottom, px,
                bottom + 5);
        svg_label(fp, px, bottom + 18, "middle", "", tick);
    }
    for (int k = 0; k < ns; k++) {
        // One path; a non-finite point lifts the pen, so the line breaks there.
        fprintf(fp, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" stroke-linejoin=\"round\"%s d=\"",
                colour(k), dash(k));
        bool drawing = false;
        for (int i = 0; i < s[k].n; i++) {
            if (!finite_point(&s[k], i)) {
                drawing = false;
                continue;
            }
            fprintf(fp, "%s%c%.1f %.1f", i ? " " : "", drawing ? 'L' : 'M', f.left + axis_at(&x, s[k].x[i], f.w),
                    frame_y(&f, s[k].y[i]));
            drawing = true;
        }
        fputs("\"/>\n", fp);
        if (most <= FEW_POINTS)  // markers show where the values are when a line alone would not
            for (int i = 0; i < s[k].n; i++)
                if (finite_point(&s[k], i))
                    fprintf(fp, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n",
                            f.left + axis_at(&x, s[k].x[i], f.w), frame_y(&f, s[k].y[i]), colour(k));
        legend_entry(fp, &f, k, s[k].name, false);
    }
    svg_end(fp);
}

void bar_chart_svg(FILE *fp, const chart_text *t, char *const *categories, int nc, const bar_series *s, int ns) {
    double y0 = 0, y1 = 0;
    size_t longest_name = 0, longest_category = 0;
    for (int k = 0; k < ns; k++) {
        if (strlen(s[k].name) > longest_name) longest_name = strlen(s[k].name);
        for (int c = 0; c < nc; c++)
            if (isfinite(s[k].v[c])) y0 = fmin(y0, s[k].v[c]), y1 = fmax(y1, s[k].v[c]);
    }
    for (int c = 0; c < nc; c++)
        if (strlen(categories[c]) > longest_category) longest_category = strlen(categories[c]);
    // Each group as wide as its bars or its name, whichever is wider; room
    // under the lowest bar for its label.
    double group_w = fmax(fmax(ns * BAR_W + 40, MIN_GROUP_W), longest_category * SVG_CHAR_W + 16);
    if (y0 < 0) y0 -= 0.08 * (y1 - y0);
    frame f = make_frame(t, make_axis(y0, y1, 6, 0), nc * group_w, ns, longest_name);
    frame_begin(fp, &f, t);
    double zero = frame_y(&f, 0);
    for (int c = 0; c < nc; c++) {
        double gx = f.left + c * group_w;
        svg_label(fp, gx + group_w / 2, f.top + f.h + 18, "middle", "", categories[c]);
        for (int k = 0; k < ns; k++) {
            double v = s[k].v[c];
            if (!isfinite(v)) continue;
            double x = gx + (group_w - ns * BAR_W) / 2 + k * BAR_W, y = frame_y(&f, v);
            fprintf(fp, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%.1f\" fill=\"%s\"/>\n", x + 2,
                    fmin(y, zero), BAR_W - 4, fabs(zero - y), colour(k));
            char value[32];
            snprintf(value, sizeof value, "%.1f", v);
            // Above a bar that rises, below one that falls.
            svg_label(fp, x + BAR_W / 2.0, v >= 0 ? y - 4 : y + 12, "middle", " font-size=\"10\"", value);
        }
    }
    fprintf(fp, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444444\"/>\n", f.left, zero,
            f.left + f.w, zero);
    for (int k = 0; k < ns; k++) legend_entry(fp, &f, k, s[k].name, true);
    svg_end(fp);
}
