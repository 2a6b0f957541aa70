// svg.h: what the project's SVG pictures share (heatmap.c, charts.c): the
// document head and foot, text labels, XML escaping and a guess at text width.
// The pictures are written by hand as plain text, coordinates in pixels.
#ifndef DEAL_SVG_H
#define DEAL_SVG_H

#include <stdio.h>

enum { SVG_FONT = 12 };  // the default font size, in pixels
#define SVG_CHAR_W (0.6 * SVG_FONT)  // a fair guess at the mean glyph width of a sans font

// The XML declaration, the <svg> element (sans font of SVG_FONT pixels) and a
// white background: the pictures stay readable on a dark page.
void svg_begin(FILE *fp, double width, double height);
void svg_end(FILE *fp);

// Text in or for XML: the five characters with a meaning there are escaped.
void svg_escaped(FILE *fp, const char *s);

// <text x y text-anchor extra>text</text>; extra is more attributes, each
// with a leading space, or "".
void svg_label(FILE *fp, double x, double y, const char *anchor, const char *extra, const char *text);

#endif
