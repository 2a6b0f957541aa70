// svg.c: the shared SVG pieces of svg.h.
#include "eval/svg.h"

void svg_begin(FILE *fp, double width, double height) {
    fprintf(fp, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                "viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"%d\">\n",
            width, height, width, height, SVG_FONT);
    fputs("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n", fp);
}

void svg_end(FILE *fp) { fputs("</svg>\n", fp); }

void svg_escaped(FILE *fp, const char *s) {
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

void svg_label(FILE *fp, double x, double y, const char *anchor, const char *extra, const char *text) {
    fprintf(fp, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\"%s>", x, y, anchor, extra);
    svg_escaped(fp, text);
    fputs("</text>\n", fp);
}
