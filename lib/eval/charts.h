// charts.h: line and bar charts as SVG, for deal-report's pictures. Each has
// a title, axes with round-numbered ticks, grid lines and labels, and a
// legend naming every series. All text is XML-escaped; non-finite values are
// left out, so the SVG never holds a NaN.
#ifndef DEAL_CHARTS_H
#define DEAL_CHARTS_H

#include <stdio.h>

typedef struct {
    const char *title, *x_label, *y_label;
} chart_text;

typedef struct {
    const char *name;
    const double *x, *y;  // n points
    int n;
} line_series;

// One line per series, with a marker on every point when no series has many. The
// y axis starts at 0 or below it; a point with a non-finite coordinate breaks
// its line. Ticks on the x axis are whole numbers when every x is.
void line_chart_svg(FILE *fp, const chart_text *t, const line_series *s, int ns);

typedef struct {
    const char *name;
    const double *v;  // one value per category; NAN: no bar
} bar_series;

// Grouped bars: one group per category (named under the x axis), one bar per
// series in each group, labelled with its value (one decimal). The y axis
// includes 0, drawn as a darker line. t->x_label may be NULL.
void bar_chart_svg(FILE *fp, const chart_text *t, char *const *categories, int nc, const bar_series *s, int ns);

#endif
