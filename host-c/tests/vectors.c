/*
 * Every conformance vector of ../shared/vectors, decoded through the C ABI
 * and compared exactly: frames (type, flags, body, pairs, error class, and
 * the bytes encoded back), real bodies (pairs, type), nested STT (lists, maps
 * and lists inside them, in place inside a body too) and real streams (the
 * frames and leftover bytes, fed whole, a byte at a time and 7 at a time).
 *
 * Input: the lines tests/vectors_to_lines.py writes (see its header), on
 * stdin. Output: one line per failure, then "vectors: N passed, N failed".
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "douyu.h"

static int passed, failed;
static const char *current = "";

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "FAIL %s (line %d): ", current, __LINE__);         \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            return 0;                                                          \
        }                                                                      \
    } while (0)

/* A byte string with its length (vectors hold no NUL, but say so anyway). */
typedef struct {
    unsigned char *p;
    size_t len;
} bytes;

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Buffers made for the current case, freed together once it is checked,
 * so that a check failing half-way leaks nothing. */
static void *owned[8192];
static size_t owned_n;

static void *take(size_t n) {
    void *p = malloc(n);
    if (!p || owned_n == sizeof owned / sizeof owned[0]) abort();
    return owned[owned_n++] = p;
}

static void free_case(void) {
    while (owned_n > 0) free(owned[--owned_n]);
}

/* Decodes hex into a fresh buffer (one spare byte, NUL, for printing). */
static bytes unhex(const char *hex) {
    size_t n = strlen(hex) / 2;
    bytes b = {take(n + 1), n};
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) abort();
        b.p[i] = (unsigned char)(hi * 16 + lo);
    }
    b.p[n] = 0;
    return b;
}

/* The fields of one line, split in place at tabs. */
typedef struct {
    char **f;
    size_t n, at;
} fields;

static const char *next(fields *fs) {
    if (fs->at >= fs->n) {
        fprintf(stderr, "malformed case line\n");
        exit(2);
    }
    return fs->f[fs->at++];
}

static long next_num(fields *fs) { return strtol(next(fs), NULL, 10); }

static bytes next_hex(fields *fs) { return unhex(next(fs)); }

static int eq(const unsigned char *a, size_t alen, bytes b) {
    return alen == b.len && (alen == 0 || memcmp(a, b.p, alen) == 0);
}

/* The unescaped text of t, into buf; returns its length or -1. */
static long unescape(const douyu_text *t, unsigned char *buf, size_t cap) {
    size_t len = 0;
    douyu_error e;
    if (douyu_text_unescape(t, buf, cap, &len, &e) != DOUYU_OK) return -1;
    if (buf[len] != 0) return -1; /* promised NUL */
    return (long)len;
}

/* The vectors' error class of a result code. */
static const char *class_of(douyu_result r) {
    switch (r) {
    case DOUYU_LENGTH_MISMATCH: return "length_mismatch";
    case DOUYU_TOO_SHORT: return "too_short";
    case DOUYU_TOO_LARGE: return "too_large";
    case DOUYU_MISSING_TERMINATOR: return "missing_terminator";
    case DOUYU_NUL_IN_BODY: return "nul_in_body";
    case DOUYU_INVALID_UTF8: return "invalid_utf8";
    case DOUYU_BAD_ESCAPE: return "bad_escape";
    case DOUYU_MISSING_SEPARATOR: return "missing_separator";
    case DOUYU_INCOMPLETE: return "incomplete";
    default: return douyu_result_message((uint32_t)r);
    }
}

/* Compares the pairs of map with the next "npairs (key value)*" fields.
 * Returns 1 when equal; on a decoding error, 0 and *err its code. */
static int pairs_match(const douyu_map *map, fields *fs, douyu_result *err) {
    long want = next_num(fs);
    douyu_pairs it;
    douyu_text k, v;
    douyu_error e;
    static unsigned char kb[1 << 16], vb[1 << 16];
    *err = DOUYU_OK;
    CHECK(douyu_map_pairs(map, &it) == DOUYU_OK, "map_pairs");
    long got = 0;
    douyu_result r;
    while ((r = douyu_pairs_next(&it, &k, &v, &e)) == DOUYU_OK) {
        CHECK(got < want, "more pairs than the %ld expected", want);
        bytes wk = next_hex(fs), wv = next_hex(fs);
        long kl = unescape(&k, kb, sizeof kb), vl = unescape(&v, vb, sizeof vb);
        int ok = kl >= 0 && vl >= 0 && eq(kb, (size_t)kl, wk) && eq(vb, (size_t)vl, wv);
        CHECK(ok, "pair %ld differs", got);
        got++;
    }
    if (r != DOUYU_DONE) {
        *err = r;
        CHECK(e.code == r, "error detail carries the code");
        return 0;
    }
    CHECK(got == want, "%ld pairs, expected %ld", got, want);
    return 1;
}

static int frame_case(fields *fs) {
    bytes name = next_hex(fs);
    bytes wire = next_hex(fs);
    const char *error = next(fs);
    current = (const char *)name.p;
    douyu_frame f;
    size_t used = 0;
    douyu_error e;
    douyu_result r = douyu_frame_decode(wire.p, wire.len, &f, &used, &e);
    if (strcmp(error, "-") != 0) {
        /* An error case: the frame layer or the pairs must name the class. */
        if (r == DOUYU_OK) {
            douyu_map map;
            CHECK(douyu_map_new(f.body, f.body_len, &map, NULL) == DOUYU_OK, "map_new");
            douyu_pairs it;
            douyu_text k, v;
            CHECK(douyu_map_pairs(&map, &it) == DOUYU_OK, "map_pairs");
            while ((r = douyu_pairs_next(&it, &k, &v, &e)) == DOUYU_OK) {}
        } else {
            CHECK(e.code == r, "error detail carries the code");
        }
        CHECK(strcmp(class_of(r), error) == 0, "got %s, expected %s", class_of(r), error);
        return 1;
    }
    CHECK(r == DOUYU_OK, "decode: %s", douyu_result_message(r));
    CHECK(used == wire.len, "used %zu of %zu", used, wire.len);
    CHECK(f.direction == next_num(fs), "type %u", f.direction);
    CHECK(f.encryption == next_num(fs), "encryption %u", f.encryption);
    CHECK(f.reserved == next_num(fs), "reserved %u", f.reserved);
    bytes body = next_hex(fs);
    int same = eq(f.body, f.body_len, body);
    CHECK(same, "body differs");
    douyu_map map;
    CHECK(douyu_map_new(f.body, f.body_len, &map, NULL) == DOUYU_OK, "map_new");
    douyu_result perr;
    CHECK(pairs_match(&map, fs, &perr), "pairs differ (decoding: %s)", douyu_result_message(perr));
    /* Encoding gives back the same bytes; one byte less is refused whole. */
    unsigned char out[4096];
    size_t written = 0;
    CHECK(wire.len <= sizeof out, "vector too long for the test");
    CHECK(douyu_frame_encode(&f, out, sizeof out, &written, &e) == DOUYU_OK, "encode");
    CHECK(written == wire.len && memcmp(out, wire.p, written) == 0, "encoded bytes differ");
    CHECK(douyu_frame_encode(&f, out, wire.len - 1, &written, &e) == DOUYU_BUFFER_FULL &&
              e.needed == wire.len,
          "a short buffer is refused with the exact size");
    /* Every cut-off prefix is incomplete, never an error. */
    for (size_t cut = 0; cut < wire.len; cut++) {
        r = douyu_frame_decode(wire.p, cut, &f, &used, &e);
        CHECK(r == DOUYU_INCOMPLETE && e.needed > cut, "prefix %zu: %s", cut,
              douyu_result_message(r));
    }
    return 1;
}

static int body_case(fields *fs) {
    bytes source = next_hex(fs);
    bytes body = next_hex(fs);
    bytes type = next_hex(fs);
    current = (const char *)source.p;
    douyu_map map;
    douyu_text t;
    bool equal = false;
    douyu_result perr;
    CHECK(douyu_map_new(body.p, body.len, &map, NULL) == DOUYU_OK, "map_new");
    CHECK(pairs_match(&map, fs, &perr), "pairs differ (decoding: %s)", douyu_result_message(perr));
    CHECK(douyu_map_get(&map, "type", &t, NULL) == DOUYU_OK, "no type");
    CHECK(douyu_text_equals(&t, type.p, type.len, &equal) == DOUYU_OK && equal, "type differs");
    size_t count = 0;
    CHECK(douyu_map_validate(&map, &count, NULL) == DOUYU_OK && count > 0, "validate");
    return 1;
}

/* The sections of a nested case, checked against list (read at its level). */
static int check_nested(const douyu_list *list, fields *fs) {
    static unsigned char buf[1 << 16];
    douyu_items it;
    douyu_text item;
    douyu_result r;
    const char *mark = next(fs);
    if (strcmp(mark, "-") != 0) {
        long want = strtol(mark, NULL, 10), got = 0;
        CHECK(douyu_list_items(list, &it) == DOUYU_OK, "list_items");
        while ((r = douyu_items_next(&it, &item, NULL)) == DOUYU_OK) {
            CHECK(got < want, "more items than %ld", want);
            bytes w = next_hex(fs);
            long n = unescape(&item, buf, sizeof buf);
            int same = n >= 0 && eq(buf, (size_t)n, w);
            CHECK(same, "item %ld differs", got);
            got++;
        }
        CHECK(r == DOUYU_DONE && got == want, "%ld items, expected %ld", got, want);
    }
    mark = next(fs);
    if (strcmp(mark, "-") != 0) {
        long want = strtol(mark, NULL, 10);
        for (long i = 0; i < want; i++) {
            douyu_map m;
            douyu_result perr;
            CHECK(douyu_list_get(list, (size_t)i, &item, NULL) == DOUYU_OK, "item %ld", i);
            CHECK(douyu_text_as_map(&item, &m) == DOUYU_OK, "as_map");
            CHECK(pairs_match(&m, fs, &perr), "map %ld differs (decoding: %s)", i, douyu_result_message(perr));
        }
        CHECK(douyu_list_get(list, (size_t)want, &item, NULL) == DOUYU_NOT_FOUND, "extra item");
    }
    mark = next(fs);
    if (strcmp(mark, "-") != 0) {
        /* The single item is a map whose one value is a list. */
        long want = strtol(mark, NULL, 10), got = 0;
        douyu_map m;
        douyu_pairs ps;
        douyu_text k, v;
        douyu_list inner;
        CHECK(douyu_list_get(list, 0, &item, NULL) == DOUYU_OK, "item 0");
        CHECK(douyu_text_as_map(&item, &m) == DOUYU_OK, "as_map");
        CHECK(douyu_map_pairs(&m, &ps) == DOUYU_OK, "pairs");
        CHECK(douyu_pairs_next(&ps, &k, &v, NULL) == DOUYU_OK, "first pair");
        CHECK(douyu_text_as_list(&v, &inner) == DOUYU_OK, "as_list");
        CHECK(douyu_list_items(&inner, &it) == DOUYU_OK, "items");
        while ((r = douyu_items_next(&it, &item, NULL)) == DOUYU_OK) {
            CHECK(got < want, "more deep items than %ld", want);
            bytes w = next_hex(fs);
            long n = unescape(&item, buf, sizeof buf);
            int same = n >= 0 && eq(buf, (size_t)n, w);
            CHECK(same, "deep item %ld differs", got);
            got++;
        }
        CHECK(r == DOUYU_DONE && got == want, "%ld deep items, expected %ld", got, want);
    }
    return 1;
}

/* STT escaping, once: the test's own, to put a value inside a body. */
static bytes escape(bytes v) {
    bytes out = {take(v.len * 2 + 1), 0};
    for (size_t i = 0; i < v.len; i++) {
        if (v.p[i] == '@') {
            out.p[out.len++] = '@';
            out.p[out.len++] = 'A';
        } else if (v.p[i] == '/') {
            out.p[out.len++] = '@';
            out.p[out.len++] = 'S';
        } else {
            out.p[out.len++] = v.p[i];
        }
    }
    return out;
}

static int nested_case(fields *fs) {
    bytes name = next_hex(fs);
    bytes value = next_hex(fs);
    const char *wire = next(fs);
    current = (const char *)name.p;
    size_t sections = fs->at;
    douyu_list list;
    /* As given (already unescaped once) ... */
    CHECK(douyu_list_new(value.p, value.len, &list, NULL) == DOUYU_OK, "list_new");
    if (!check_nested(&list, fs)) return 0;
    /* ... and in place inside a body, escaped once more, with no copy. */
    bytes esc = escape(value);
    size_t blen = esc.len + 4;
    unsigned char *body = take(blen);
    memcpy(body, "v@=", 3);
    memcpy(body + 3, esc.p, esc.len);
    body[blen - 1] = '/';
    int wire_ok = 1;
    if (strcmp(wire, "-") != 0) {
        bytes w = unhex(wire);
        wire_ok = eq(esc.p, esc.len, w);
    }
    douyu_map map;
    douyu_text field;
    bool equal = false;
    int inplace = douyu_map_new(body, blen, &map, NULL) == DOUYU_OK &&
                  douyu_map_get(&map, "v", &field, NULL) == DOUYU_OK &&
                  douyu_text_equals(&field, value.p, value.len, &equal) == DOUYU_OK && equal &&
                  douyu_text_as_list(&field, &list) == DOUYU_OK;
    fs->at = sections;
    int deep_ok = inplace && check_nested(&list, fs);
    CHECK(wire_ok, "escaped value differs from the wire form");
    CHECK(inplace && deep_ok, "in place inside a body");
    return 1;
}

/* Feeds the stream in pieces of `piece` bytes through the window. */
static int stream_pieces(bytes wire, size_t piece, fields *fs, size_t frames_at) {
    douyu_decoder *d = NULL;
    int ok = 0;
    CHECK(douyu_decoder_new(64 * 1024, &d) == DOUYU_OK, "decoder_new");
    fs->at = frames_at;
    long leftover = next_num(fs), want = next_num(fs), got = 0;
    for (size_t at = 0; at < wire.len;) {
        uint8_t *w;
        size_t room, n = wire.len - at < piece ? wire.len - at : piece;
        CHECK(douyu_decoder_window(d, &w, &room) == DOUYU_OK && room >= n, "window");
        memcpy(w, wire.p + at, n);
        CHECK(douyu_decoder_commit(d, n) == DOUYU_OK, "commit");
        at += n;
        douyu_frame f;
        douyu_result r;
        while ((r = douyu_decoder_next_frame(d, &f, NULL)) == DOUYU_OK) {
            if (got >= want) {
                fprintf(stderr, "FAIL %s: more than %ld frames\n", current, want);
                goto out;
            }
            long type = next_num(fs);
            bytes body = next_hex(fs);
            int same = f.direction == type && eq(f.body, f.body_len, body);
            if (!same) {
                fprintf(stderr, "FAIL %s: frame %ld differs (pieces of %zu)\n", current, got, piece);
                goto out;
            }
            got++;
        }
        if (r != DOUYU_INCOMPLETE) {
            fprintf(stderr, "FAIL %s: %s\n", current, douyu_result_message(r));
            goto out;
        }
    }
    size_t buffered = 99;
    douyu_decoder_buffered(d, &buffered);
    if (got != want || buffered != (size_t)leftover) {
        fprintf(stderr, "FAIL %s: %ld frames, %zu left (pieces of %zu)\n", current, got, buffered, piece);
        goto out;
    }
    ok = 1;
out:
    douyu_decoder_free(d);
    return ok;
}

static int stream_case(fields *fs) {
    bytes what = next_hex(fs);
    bytes wire = next_hex(fs);
    current = (const char *)what.p;
    size_t frames_at = fs->at;
    size_t pieces[] = {wire.len, 1, 7};
    int ok = 1;
    for (size_t i = 0; i < 3 && ok; i++) ok = stream_pieces(wire, pieces[i], fs, frames_at);
    return ok;
}

int main(void) {
    char *line = NULL;
    size_t cap = 0;
    long expected = -1, cases = 0;
    char *f[4096];
    while (getline(&line, &cap, stdin) > 0) {
        fields fs = {f, 0, 0};
        /* Split at every tab: an empty string is an empty field. */
        line[strcspn(line, "\n")] = 0;
        if (line[0] == 0) continue;
        for (char *tok = line; tok && fs.n < 4096;) {
            char *tab = strchr(tok, '\t');
            if (tab) *tab++ = 0;
            f[fs.n++] = tok;
            tok = tab;
        }
        const char *kind = next(&fs);
        int ok;
        if (strcmp(kind, "C") == 0) {
            expected = next_num(&fs);
            continue;
        } else if (strcmp(kind, "F") == 0) {
            ok = frame_case(&fs);
        } else if (strcmp(kind, "B") == 0) {
            ok = body_case(&fs);
        } else if (strcmp(kind, "N") == 0) {
            ok = nested_case(&fs);
        } else if (strcmp(kind, "S") == 0) {
            ok = stream_case(&fs);
        } else {
            fprintf(stderr, "unknown case kind %s\n", kind);
            return 2;
        }
        free_case();
        cases++;
        if (ok) passed++;
        else failed++;
    }
    free(line);
    if (expected < 0 || cases != expected) {
        fprintf(stderr, "read %ld cases, the file announced %ld\n", cases, expected);
        failed++;
    }
    printf("vectors: %d passed, %d failed\n", passed, failed);
    return failed == 0 && passed > 0 ? 0 : 1;
}
