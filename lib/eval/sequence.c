// sequence.c: the accuracy matrix and its summary (see sequence.h).
#include "eval/sequence.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

static int index_of(char *const *names, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0) return i;
    return -1;
}

// The one task of file j that no earlier step trained.
static char *new_task(const score_table *f, const char *file, char *const *trained, int j) {
    const char *fresh[2];
    int nfresh = 0;
    for (int k = 0; k < f->n; k++) {
        const char *name = f->groups[k].name;
        if (index_of(trained, j, name) >= 0) continue;
        if (nfresh < 2) fresh[nfresh] = name;  // two are enough to name in an error
        nfresh++;
    }
    if (nfresh == 0)
        die("%s: no new task; each file of --sequence must add exactly one (or give the order with --tasks)", file);
    if (nfresh > 1)
        die("%s: %d new tasks (\"%s\", \"%s\"%s); each file of --sequence must add exactly one "
            "(or give the order with --tasks)", file, nfresh, fresh[0], fresh[1], nfresh > 2 ? ", ..." : "");
    return xstrdup(fresh[0]);
}

cl_matrix cl_matrix_build(const score_table *per_file, char *const *files, int n,
                          char *const *order, int norder) {
    if (order && norder != n) die("--tasks names %d tasks, but %d files were given", norder, n);
    cl_matrix m = {.n = n, .tasks = xcalloc((size_t)n, sizeof(char *)), .a = xmalloc((size_t)n * n * sizeof(double))};
    for (int k = 0; k < n * n; k++) m.a[k] = NAN;
    for (int j = 0; order && j < n; j++) {
        if (index_of(order, j, order[j]) >= 0) die("--tasks names \"%s\" twice", order[j]);
        m.tasks[j] = xstrdup(order[j]);
    }
    for (int j = 0; j < n; j++) {
        const score_table *f = &per_file[j];
        if (!order) m.tasks[j] = new_task(f, files[j], m.tasks, j);
        // A task unknown to --tasks is more likely a typo than a plan.
        for (int k = 0; order && k < f->n; k++)
            if (index_of(m.tasks, n, f->groups[k].name) < 0)
                die("%s: task \"%s\" is not in --tasks", files[j], f->groups[k].name);
        for (int i = 0; i <= j; i++) {
            const score_group *g = score_find(f, m.tasks[i]);
            if (!g)
                die("%s: no predictions for task \"%s\" (trained at step %d); each file of --sequence "
                    "must cover every task trained so far", files[j], m.tasks[i], i + 1);
            m.a[i * n + j] = score_accuracy(g);
        }
    }
    return m;
}

void cl_matrix_free(cl_matrix *m) {
    for (int i = 0; i < m->n; i++) free(m->tasks[i]);
    free(m->tasks);
    free(m->a);
    *m = (cl_matrix){0};
}

cl_summary cl_summarize(const double *a, int n) {
    cl_summary s = {0};
    int last = n - 1;
    for (int i = 0; i < n; i++) s.aa += a[i * n + last];
    s.aa /= n;
    for (int i = 0; i < last; i++) {
        double best = a[i * n + i];  // the best accuracy on task i before the last step
        for (int j = i + 1; j < last; j++)
            if (a[i * n + j] > best) best = a[i * n + j];
        s.bwt += a[i * n + last] - a[i * n + i];
        s.forgetting += best - a[i * n + last];
    }
    if (last > 0) {
        s.bwt /= last;
        s.forgetting /= last;
    }
    return s;
}
