// util.c: diagnostics, checked allocation, file reading and atomic output.
#include "base/util.h"

#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *tool_name = "deal";

void deal_set_tool(const char *name) { tool_name = name; }
const char *deal_tool(void) { return tool_name; }

// ---- cleanup of half-written outputs ---------------------------------------

// Few outputs are open at once; a small fixed table keeps die() simple.
#define MAX_CLEANUP 16
static char *cleanup_paths[MAX_CLEANUP];

void cleanup_register(const char *path) {
    for (int i = 0; i < MAX_CLEANUP; i++)
        if (!cleanup_paths[i]) {
            cleanup_paths[i] = xstrdup(path);
            return;
        }
    die_internal("too many temporary outputs open at once");
}

void cleanup_unregister(const char *path) {
    for (int i = 0; i < MAX_CLEANUP; i++)
        if (cleanup_paths[i] && strcmp(cleanup_paths[i], path) == 0) {
            free(cleanup_paths[i]);
            cleanup_paths[i] = NULL;
        }
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

void remove_tree(const char *path) { nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

static void cleanup_all(void) {
    for (int i = 0; i < MAX_CLEANUP; i++)
        if (cleanup_paths[i]) {
            remove_tree(cleanup_paths[i]);
            free(cleanup_paths[i]);
            cleanup_paths[i] = NULL;
        }
}

// ---- diagnostics -----------------------------------------------------------

static void vreport(const char *fmt, va_list ap) {
    fflush(stdout);
    fprintf(stderr, "%s: ", tool_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport(fmt, ap);
    va_end(ap);
    cleanup_all();
    exit(EXIT_BAD_INPUT);
}

void die_internal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport(fmt, ap);
    va_end(ap);
    cleanup_all();
    exit(EXIT_INTERNAL);
}

void warn(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport(fmt, ap);
    va_end(ap);
}

// ---- allocation ------------------------------------------------------------

void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) die_internal("out of memory (%zu bytes)", n);
    return p;
}

void *xcalloc(size_t count, size_t size) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) die_internal("out of memory (%zu x %zu bytes)", count, size);
    return p;
}

void *xrealloc(void *p, size_t n) {
    p = realloc(p, n ? n : 1);
    if (!p) die_internal("out of memory (%zu bytes)", n);
    return p;
}

char *xstrdup(const char *s) { return xstrndup(s, strlen(s)); }

char *xstrndup(const char *s, size_t n) {
    char *d = xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *xasprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) die_internal("bad format string");
    char *s = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

long parse_long_option(const char *option, const char *value, long min, long max) {
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno || end == value || *end != '\0' || v < min || v > max)
        die("%s: expected an integer from %ld to %ld, got \"%s\"", option, min, max, value);
    return v;
}

// ---- files -----------------------------------------------------------------

char *read_file(const char *path, size_t *len) {
    int is_stdin = strcmp(path, "-") == 0;
    FILE *fp = is_stdin ? stdin : fopen(path, "rb");
    if (!fp) die("%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (n + 1 == cap) buf = xrealloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n - 1, fp);
        n += got;
        if (got == 0) break;
    }
    if (ferror(fp)) die("%s: read error: %s", is_stdin ? "stdin" : path, strerror(errno));
    if (!is_stdin) fclose(fp);
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

atomic_file atomic_open(const char *path) {
    atomic_file f = {0};
    f.path = xstrdup(path);
    if (strcmp(path, "-") == 0) {
        f.fp = stdout;
        return f;
    }
    f.tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
    f.fp = fopen(f.tmp, "wb");
    if (!f.fp) die("%s: cannot create: %s", path, strerror(errno));
    cleanup_register(f.tmp);
    return f;
}

void atomic_commit(atomic_file *f) {
    if (!f->tmp) {
        if (fflush(f->fp) != 0) die("stdout: write error: %s", strerror(errno));
    } else {
        if (fflush(f->fp) != 0 || fsync(fileno(f->fp)) != 0 || fclose(f->fp) != 0)
            die("%s: write error: %s", f->path, strerror(errno));
        if (rename(f->tmp, f->path) != 0) die("%s: cannot rename into place: %s", f->path, strerror(errno));
        cleanup_unregister(f->tmp);
        free(f->tmp);
    }
    free(f->path);
    *f = (atomic_file){0};
}

char *dir_begin(const char *path) {
    char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
    remove_tree(tmp);
    if (mkdir(tmp, 0777) != 0) die("%s: cannot create: %s", tmp, strerror(errno));
    cleanup_register(tmp);
    return tmp;
}

void dir_commit(char *tmp, const char *path) {
    // rename() cannot replace a non-empty folder: move the old one aside first.
    char *old = xasprintf("%s.old.%ld", path, (long)getpid());
    struct stat st;
    int had_old = stat(path, &st) == 0;
    if (had_old && rename(path, old) != 0) die("%s: cannot replace: %s", path, strerror(errno));
    if (rename(tmp, path) != 0) die("%s: cannot rename into place: %s", path, strerror(errno));
    cleanup_unregister(tmp);
    if (had_old) remove_tree(old);
    free(old);
    free(tmp);
}

uint64_t fnv1a64(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}
