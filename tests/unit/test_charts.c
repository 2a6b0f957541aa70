// Unit tests of lib/eval/charts.c: the SVG is well-formed (tags balanced
// under one <svg> root, only XML's own entities), holds no NaN or infinity,
// names every series (escaped) and draws each of them.
#include "../test.h"

#include <ctype.h>
#include <stdbool.h>

#include "base/util.h"
#include "eval/charts.h"

typedef struct {
    char *text;
    size_t len;
    FILE *fp;
} buffer;

static FILE *buffer_open(buffer *b) { return b->fp = open_memstream(&b->text, &b->len); }
static void buffer_close(buffer *b) { fclose(b->fp); }

// Well-formed as far as this project's SVG goes: an XML declaration, then
// elements that close in the order they open under a single <svg> root, no
// '<' or '>' out of place, and every '&' starting one of the five entities.
static bool well_formed(const char *s) {
    if (strncmp(s, "<?xml ", 6) != 0) return false;
    s = strstr(s, "?>") + 2;
    char open[32][32];
    int depth = 0, roots = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '&') {
            static const char *const entities[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
            bool known = false;
            for (int k = 0; k < 5; k++) known = known || strncmp(p, entities[k], strlen(entities[k])) == 0;
            if (!known) return false;
        }
        if (*p == '>') return false;  // one not closing a tag
        if (*p != '<') continue;
        const char *end = strchr(p, '>'), *q = p + 1 + (p[1] == '/');
        if (!end || memchr(p + 1, '<', (size_t)(end - p - 1))) return false;
        size_t n = strcspn(q, " \t\n/>");
        if (n == 0 || n >= sizeof open[0]) return false;
        if (p[1] == '/') {
            if (depth == 0 || strlen(open[depth - 1]) != n || strncmp(open[depth - 1], q, n) != 0) return false;
            depth--;
        } else {
            if (depth == 0 && (roots++ || strncmp(q, "svg", n) != 0)) return false;
            if (end[-1] != '/') {
                if (depth == 32) return false;
                memcpy(open[depth], q, n);
                open[depth++][n] = '\0';
            }
        }
        p = end;
    }
    return depth == 0 && roots == 1;
}

// Whether word occurs in s on its own (not inside a longer word), any case.
static bool has_word(const char *s, const char *word) {
    size_t n = strlen(word);
    for (const char *p = s; (p = strcasestr(p, word)); p++)
        if ((p == s || !isalpha((unsigned char)p[-1])) && !isalpha((unsigned char)p[n])) return true;
    return false;
}

static int count(const char *s, const char *needle) {
    int k = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle)) k++;
    return k;
}

// Whether some <text> element holds exactly text (already escaped).
static bool has_text(const char *svg, const char *text) {
    char *closed = xasprintf(">%s</text>", text);
    bool found = strstr(svg, closed) != NULL;
    free(closed);
    return found;
}

static bool finite_numbers_only(const char *svg) {
    return !has_word(svg, "nan") && !has_word(svg, "inf") && !has_word(svg, "infinity");
}

static const chart_text TEXT = {"Loss & co <test>", "step", "loss"};

static void test_line_chart(void) {
    double x[] = {1, 2, 3, 4, 5}, y1[] = {25, 15, NAN, 7.5, 5}, y2[] = {30, 20, 10, INFINITY, 2.5}, y3[] = {9};
    line_series s[] = {{"dbpedia", x, y1, 5}, {"ya\"h<o>o & 'co'", x, y2, 5}, {"agnews", x, y3, 1}};
    buffer b;
    line_chart_svg(buffer_open(&b), &TEXT, s, 3);
    buffer_close(&b);
    CHECK(well_formed(b.text));
    CHECK(finite_numbers_only(b.text));
    CHECK(has_text(b.text, "Loss &amp; co &lt;test&gt;"));
    CHECK(has_text(b.text, "dbpedia"));
    CHECK(has_text(b.text, "ya&quot;h&lt;o&gt;o &amp; &apos;co&apos;"));
    CHECK(has_text(b.text, "agnews"));
    CHECK(has_text(b.text, "step") && has_text(b.text, "loss"));
    CHECK(count(b.text, "<path fill=\"none\" stroke=\"#") == 3);  // a line per series
    // The non-finite point breaks each of the first two lines in two.
    const char *first = strstr(b.text, "<path fill=\"none\" stroke=\"#");
    CHECK(first && count(strstr(first, " d=\""), "M") >= 2);
    // Ticks: y from 0 to the highest value in fives; x in whole steps, none between.
    CHECK(has_text(b.text, "0") && has_text(b.text, "25") && has_text(b.text, "30"));
    CHECK(has_text(b.text, "4") && !has_text(b.text, "1.5") && !has_text(b.text, "4.5"));
    free(b.text);
}

static void test_line_chart_degenerate(void) {
    double x[] = {7}, y[] = {NAN}, flat[] = {2, 2};
    double xs[] = {0, 0};
    struct {
        line_series s[2];
        int n;
    } cases[] = {
        {{{"x", NULL, NULL, 0}}, 0},          // no series at all
        {{{"empty", x, y, 0}}, 1},            // a series without points
        {{{"no finite point", x, y, 1}}, 1},  // only a non-finite point
        {{{"flat", xs, flat, 2}}, 1},         // every point at one place
        {{{"one", x, flat, 1}, {"two", xs, flat, 2}}, 2},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        buffer b;
        line_chart_svg(buffer_open(&b), &TEXT, cases[k].s, cases[k].n);
        buffer_close(&b);
        CHECK(well_formed(b.text));
        CHECK(finite_numbers_only(b.text));
        for (int i = 0; i < cases[k].n; i++) CHECK(has_text(b.text, cases[k].s[i].name));
        free(b.text);
    }
}

static void test_bar_chart(void) {
    char *runs[] = {"deal", "seq<lora>", "replay"};
    double aa[] = {75.25, 50, NAN}, bwt[] = {-2.5, -30, 4};
    bar_series s[] = {{"AA", aa}, {"BWT", bwt}};
    chart_text t = {"AA & BWT", NULL, "percent"};
    buffer b;
    bar_chart_svg(buffer_open(&b), &t, runs, 3, s, 2);
    buffer_close(&b);
    CHECK(well_formed(b.text));
    CHECK(finite_numbers_only(b.text));
    CHECK(has_text(b.text, "deal") && has_text(b.text, "seq&lt;lora&gt;") && has_text(b.text, "replay"));
    CHECK(has_text(b.text, "AA") && has_text(b.text, "BWT") && has_text(b.text, "AA &amp; BWT"));
    // A bar and its value per finite value: 5 of them.
    CHECK(count(b.text, "<rect x=") == 5 + 2);  // and the legend's two squares
    CHECK(has_text(b.text, "75.2") || has_text(b.text, "75.3"));
    CHECK(has_text(b.text, "-30.0") && has_text(b.text, "4.0"));
    CHECK(has_text(b.text, "-40") && has_text(b.text, "80"));  // the axis takes in both signs
    free(b.text);
}

static void test_bar_chart_empty(void) {
    double none[] = {NAN};
    bar_series s[] = {{"AA", none}};
    char *runs[] = {"only"};
    buffer b;
    bar_chart_svg(buffer_open(&b), &TEXT, runs, 1, s, 1);
    buffer_close(&b);
    CHECK(well_formed(b.text));
    CHECK(finite_numbers_only(b.text));
    CHECK(has_text(b.text, "only"));
    free(b.text);
}

// The checker itself must catch what it is there to catch.
static void test_checker(void) {
    CHECK(well_formed("<?xml ?>\n<svg><g><text>a &amp; b</text></g><rect/></svg>\n"));
    CHECK(!well_formed("<?xml ?>\n<svg><g><text>a</g></text></svg>"));
    CHECK(!well_formed("<?xml ?>\n<svg><text>a & b</text></svg>"));
    CHECK(!well_formed("<?xml ?>\n<svg><text>a < b</text></svg>"));
    CHECK(!well_formed("<?xml ?>\n<svg></svg><svg></svg>"));
    CHECK(!well_formed("<?xml ?>\n<svg><g>"));
    CHECK(!finite_numbers_only("<path d=\"M1 nan\"/>") && !finite_numbers_only("x=\"-inf\""));
    CHECK(finite_numbers_only("<text dominant-baseline=\"central\">information</text>"));
}

int main(void) {
    RUN(test_checker);
    RUN(test_line_chart);
    RUN(test_line_chart_degenerate);
    RUN(test_bar_chart);
    RUN(test_bar_chart_empty);
    return test_summary();
}
