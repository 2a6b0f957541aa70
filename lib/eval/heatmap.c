// heatmap.c: the SVG heat map of heatmap.h, written by hand (plain text).
#include "eval/heatmap.h"

#include <math.h>
#include <string.h>

enum { CELL = 56, FONT = 12, BAR_W = 16, BAR_MIN_H = 140 };
#define CHAR_W (0.6 * FONT)  // a fair guess at the mean glyph width of a sans font
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

// Text in or for XML: the five characters with a meaning there are escaped.
static void xml_text(FILE *fp, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", fp); break;
        case '<': fputs("&lt;", fp); break;
        case '>': fputs("&gt;", fp); break;
        case '"': fputs("&quot;", fp); break;
        case '\'': fputs("&apos;", fp); break;
        default: fputc(*s, fp);
        }
    }
}

static void label(FILE *fp, double x, double y, const char *anchor, const char *extra, const char *text) {
    fprintf(fp, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\"%s>", x, y, anchor, extra);
    xml_text(fp, text);
    fputs("</text>\n", fp);
}

void heatmap_svg(FILE *fp, const cl_matrix *m) {
    int n = m->n;
    size_t longest = 4;
    for (int i = 0; i < n; i++)
        if (strlen(m->tasks[i]) > longest) longest = strlen(m->tasks[i]);
    double name_w = longest * CHAR_W + 8;
    double grid = n * CELL, bar_h = fmax(grid, BAR_MIN_H);
    double left = 28 + name_w;              // row axis title, then the row labels
    double top = 74 + name_w * SLANT;       // title, summary, column axis title, slanted labels
    double bar_x = left + grid + 24;
    static const char title[] = "Accuracy (%) on each task after training each task";
    cl_summary s = cl_summarize(m->a, n);
    char summary[128];
    snprintf(summary, sizeof summary, "AA %.2f   BWT %.2f   forgetting %.2f", s.aa, s.bwt, s.forgetting);
    double header_w = 20 + fmax((sizeof title - 1) * 0.6 * 14, strlen(summary) * CHAR_W);
    double width = fmax(fmax(bar_x + BAR_W + 48, left + grid + name_w * SLANT + 12), header_w);
    double height = top + bar_h + 16;

    fprintf(fp, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                "viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"%d\">\n",
            width, height, width, height, FONT);
    fputs("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n", fp);
    label(fp, 10, 20, "start", " font-size=\"14\" font-weight=\"bold\"", title);
    label(fp, 10, 38, "start", " xml:space=\"preserve\"", summary);
    label(fp, left + grid / 2, 60, "middle", " font-style=\"italic\"", "after training");
    char rotate[64];
    snprintf(rotate, sizeof rotate, " font-style=\"italic\" transform=\"rotate(-90 14 %.1f)\"", top + grid / 2);
    label(fp, 14, top + grid / 2, "middle", rotate, "accuracy on");

    for (int j = 0; j < n; j++) {
        double x = left + (j + 0.5) * CELL, y = top - 6;
        snprintf(rotate, sizeof rotate, " transform=\"rotate(-45 %.1f %.1f)\"", x, y);
        label(fp, x, y, "start", rotate, m->tasks[j]);
    }
    for (int i = 0; i < n; i++) {
        double y = top + i * CELL;
        label(fp, left - 6, y + CELL / 2.0, "end", " dominant-baseline=\"central\"", m->tasks[i]);
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
        label(fp, bar_x + BAR_W + 4, top + bar_h * (1 - k / 4.0), "start", " dominant-baseline=\"central\"", tick);
    }
    fputs("</svg>\n", fp);
}
