// heatmap.c: the SVG heat map of heatmap.h, written by hand (plain text, svg.h).
#include "eval/heatmap.h"

#include <math.h>
#include <string.h>

#include "eval/svg.h"

enum { CELL = 56, BAR_W = 16, BAR_MIN_H = 140 };
#define SLANT 0.7071         // sin(45°): column labels are turned by -45°

// Viridis at 0, 1/4, 1/2, 3/4 and 1: dark for low accuracy, bright for high,
// readable in grey and by the colour-blind.
static const unsigned char VIRIDIS[5][3] = {
    {0x44, 0x01, 0x54}, {0x3b, 0x52, 0x8b}, {0x21, 0x91, 0x8c}, {0x5e, 0xc9, 0x62}, {0xfd, 0xe7, 0x25}};

// Colour of a percentage, linear between the viridis stops.
static void colour(double pct, unsigned char rgb[3]) {
    double t = fmin(fmax(pct / 100.0, 0.0), 1.0) * 4.0;
    int k = t >= 4.0 ? 3 : (int)t;
    double f = t - k;
    for (int c = 0; c < 3; c++) rgb[c] = (unsigned char)lround(VIRIDIS[k][c] + f * (VIRIDIS[k + 1][c] - VIRIDIS[k][c]));
}

void heatmap_svg(FILE *fp, const cl_matrix *m) {
    int n = m->n;
    size_t longest = 4;
    for (int i = 0; i < n; i++)
        if (strlen(m->tasks[i]) > longest) longest = strlen(m->tasks[i]);
    double name_w = longest * SVG_CHAR_W + 8;
    double grid = n * CELL, bar_h = fmax(grid, BAR_MIN_H);
    double left = 28 + name_w;              // row axis title, then the row labels
    double top = 74 + name_w * SLANT;       // title, summary, column axis title, slanted labels
    double bar_x = left + grid + 24;
    static const char title[] = "Accuracy (%) on each task after training each task";
    cl_summary s = cl_summarize(m->a, n);
    char summary[128];
    snprintf(summary, sizeof summary, "AA %.2f   BWT %.2f   forgetting %.2f", s.aa, s.bwt, s.forgetting);
    double header_w = 20 + fmax((sizeof title - 1) * 0.6 * 14, strlen(summary) * SVG_CHAR_W);
    double width = fmax(fmax(bar_x + BAR_W + 48, left + grid + name_w * SLANT + 12), header_w);
    double height = top + bar_h + 16;

    svg_begin(fp, width, height);
    svg_label(fp, 10, 20, "start", " font-size=\"14\" font-weight=\"bold\"", title);
    svg_label(fp, 10, 38, "start", " xml:space=\"preserve\"", summary);
    svg_label(fp, left + grid / 2, 60, "middle", " font-style=\"italic\"", "after training");
    char rotate[64];
    snprintf(rotate, sizeof rotate, " font-style=\"italic\" transform=\"rotate(-90 14 %.1f)\"", top + grid / 2);
    svg_label(fp, 14, top + grid / 2, "middle", rotate, "accuracy on");

    for (int j = 0; j < n; j++) {
        double x = left + (j + 0.5) * CELL, y = top - 6;
        snprintf(rotate, sizeof rotate, " transform=\"rotate(-45 %.1f %.1f)\"", x, y);
        svg_label(fp, x, y, "start", rotate, m->tasks[j]);
    }
    for (int i = 0; i < n; i++) {
        double y = top + i * CELL;
        svg_label(fp, left - 6, y + CELL / 2.0, "end", " dominant-baseline=\"central\"", m->tasks[i]);
        for (int j = 0; j < n; j++) {
            double x = left + j * CELL, a = m->a[i * n + j];
            if (isnan(a)) {
                fprintf(fp, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%d\" fill=\"white\" stroke=\"#dddddd\"/>\n",
                        x, y, CELL, CELL);
                continue;
            }
            unsigned char c[3];
            colour(a, c);
            // Dark text on bright cells, white on dark ones (ITU-R 601 luma).
            int dark = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2] > 140;
            fprintf(fp, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%d\" fill=\"#%02x%02x%02x\" stroke=\"white\"/>\n",
                    x, y, CELL, CELL, c[0], c[1], c[2]);
            fprintf(fp, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" dominant-baseline=\"central\" fill=\"%s\">%.1f</text>\n",
                    x + CELL / 2.0, y + CELL / 2.0, dark ? "black" : "white", a);
        }
    }

    // The colour bar, 100 % at the top, with the same stops as colour().
    fputs("<defs><linearGradient id=\"scale\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">\n", fp);
    for (int k = 0; k < 5; k++)
        fprintf(fp, "<stop offset=\"%.2f\" stop-color=\"#%02x%02x%02x\"/>\n", k / 4.0, VIRIDIS[k][0], VIRIDIS[k][1],
                VIRIDIS[k][2]);
    fputs("</linearGradient></defs>\n", fp);
    fprintf(fp, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%.1f\" fill=\"url(#scale)\" stroke=\"#888888\"/>\n",
            bar_x, top, BAR_W, bar_h);
    for (int k = 0; k <= 4; k++) {
        char tick[16];
        snprintf(tick, sizeof tick, "%d%%", 25 * k);
        svg_label(fp, bar_x + BAR_W + 4, top + bar_h * (1 - k / 4.0), "start", " dominant-baseline=\"central\"", tick);
    }
    svg_end(fp);
}
