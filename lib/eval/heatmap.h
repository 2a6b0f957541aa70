// heatmap.h: the accuracy matrix as an SVG heat map: one cell per (evaluated
// task, task trained last), coloured on a fixed 0-100 % scale (viridis) and
// labelled with its value; cells above the diagonal are left empty. Task
// names label both axes, a colour bar gives the scale, and AA, BWT and
// forgetting head the picture.
#ifndef DEAL_HEATMAP_H
#define DEAL_HEATMAP_H

#include <stdio.h>

#include "eval/sequence.h"

void heatmap_svg(FILE *fp, const cl_matrix *m);

#endif
