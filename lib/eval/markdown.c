// markdown.c: see markdown.h.
#include "eval/markdown.h"

#include <math.h>

void md_cell(FILE *fp, const char *s) {
    for (; *s; s++) {
        if (*s == '|') fputc('\\', fp);
        fputc(*s, fp);
    }
}

void md_accuracy_matrix(FILE *fp, const cl_matrix *m) {
    fputs("Accuracy (%) on each task (rows) after training each task (columns):\n\n| task |", fp);
    for (int j = 0; j < m->n; j++) {
        fputs(" after ", fp);
        md_cell(fp, m->tasks[j]);
        fputs(" |", fp);
    }
    fputs("\n| --- |", fp);
    for (int j = 0; j < m->n; j++) fputs(" ---: |", fp);
    fputc('\n', fp);
    for (int i = 0; i < m->n; i++) {
        fputs("| ", fp);
        md_cell(fp, m->tasks[i]);
        fputs(" |", fp);
        for (int j = 0; j < m->n; j++) {
            double a = m->a[i * m->n + j];
            if (isnan(a)) fputs(" |", fp);
            else fprintf(fp, " %.1f |", a);
        }
        fputc('\n', fp);
    }
    cl_summary s = cl_summarize(m->a, m->n);
    fprintf(fp, "\nIn percentage points, after the last task:\n\n| AA | BWT | forgetting |\n| ---: | ---: | ---: |\n"
                "| %.2f | %.2f | %.2f |\n\n", s.aa, s.bwt, s.forgetting);
}
