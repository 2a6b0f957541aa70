// util.h: what every tool shares: the tool's name in diagnostics, fatal errors
// that leave nothing half-written, checked allocation, whole-file reads and
// atomic file creation (write to a temporary name, then rename).
#ifndef DEAL_UTIL_H
#define DEAL_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

// Exit codes of every tool (design.md): 1 bad input or usage, 2 internal error.
enum { EXIT_BAD_INPUT = 1, EXIT_INTERNAL = 2 };

// Set once at the start of main; prefixes every diagnostic ("deal-prep: ...").
void deal_set_tool(const char *name);
const char *deal_tool(void);

// Prints "<tool>: <message>" on stderr, removes every temporary file still
// registered (see atomic_open) and exits with EXIT_BAD_INPUT.
__attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...);
// Same, for failures that are our fault or the system's (exit EXIT_INTERNAL).
__attribute__((noreturn, format(printf, 1, 2))) void die_internal(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void warn(const char *fmt, ...);

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
// printf into a fresh heap string.
__attribute__((format(printf, 1, 2))) char *xasprintf(const char *fmt, ...);

// Reads a whole file ("-" = stdin) into a NUL-terminated buffer; dies naming
// the file on failure. *len receives the size without the terminator.
char *read_file(const char *path, size_t *len);

// Atomic output: atomic_open creates "<path>.tmp.<pid>" and registers it so
// that die() removes it; atomic_commit flushes, fsyncs, closes and renames it
// onto path. "-" means stdout (no temporary, commit only flushes).
typedef struct {
    FILE *fp;
    char *path;
    char *tmp;  // NULL for stdout
} atomic_file;
atomic_file atomic_open(const char *path);
void atomic_commit(atomic_file *f);
// Atomic folders: dir_begin makes "<path>.tmp.<pid>" (registered for removal
// on die) and returns its name; dir_commit renames it onto path, replacing any
// folder there, and frees the name.
char *dir_begin(const char *path);
void dir_commit(char *tmp, const char *path);
// Removes a file or a folder tree; no error if it does not exist.
void remove_tree(const char *path);
// Register/unregister an extra path (a file or a directory tree) to delete on die().
void cleanup_register(const char *path);
void cleanup_unregister(const char *path);

// Parses an integer option value in [min, max]; dies naming the option otherwise.
long parse_long_option(const char *option, const char *value, long min, long max);

// 64-bit FNV-1a, for fingerprints of vocabularies (not for security).
uint64_t fnv1a64(uint64_t h, const void *data, size_t n);
#define FNV1A64_INIT 0xcbf29ce484222325ULL

#ifdef __cplusplus
}
#endif

#endif
