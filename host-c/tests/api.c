/*
 * The rules of the boundary, checked from C: every pointer checked for NULL,
 * outputs written only on success, views not made by the library refused,
 * windows and buffers bounded, handles freed (LeakSanitizer watches), and a
 * frame too large for a decoder skipped while the next one decodes.
 *
 * Output: one line per failure, then "api: N passed, N failed".
 */
#include <stdio.h>
#include <string.h>

#include "douyu.h"

static int passed, failed;

#define EXPECT(cond)                                                           \
    do {                                                                       \
        if (cond) {                                                            \
            passed++;                                                          \
        } else {                                                               \
            failed++;                                                          \
            fprintf(stderr, "FAIL line %d: %s\n", __LINE__, #cond);            \
        }                                                                      \
    } while (0)

static const uint8_t MRKL[] = "\x14\0\0\0\x14\0\0\0\xb2\x02\0\0type@=mrkl/";
#define MRKL_LEN 24 /* the string's own NUL is the frame's terminator */

static void null_pointers(void) {
    douyu_frame f;
    size_t n;
    douyu_map m;
    douyu_text t;
    douyu_list l;
    douyu_pairs p;
    douyu_items it;
    douyu_decoder *d = NULL;
    douyu_client *c = NULL;
    douyu_client_config cfg;
    douyu_event ev;
    uint8_t *w;
    uint64_t u;
    bool b;
    uint8_t buf[8];

    EXPECT(douyu_frame_decode(NULL, 4, &f, &n, NULL) == DOUYU_NULL_POINTER);
    EXPECT(douyu_frame_decode(MRKL, MRKL_LEN, NULL, &n, NULL) == DOUYU_NULL_POINTER);
    EXPECT(douyu_frame_decode(MRKL, MRKL_LEN, &f, NULL, NULL) == DOUYU_NULL_POINTER);
    EXPECT(douyu_frame_encode(NULL, buf, sizeof buf, &n, NULL) == DOUYU_NULL_POINTER);
    EXPECT(douyu_decoder_new(64, NULL) == DOUYU_NULL_POINTER);
    EXPECT(douyu_decoder_window(NULL, &w, &n) == DOUYU_NULL_POINTER);
    EXPECT(douyu_decoder_commit(NULL, 0) == DOUYU_NULL_POINTER);
    EXPECT(douyu_decoder_feed(NULL, MRKL, 1, &n) == DOUYU_NULL_POINTER);
    EXPECT(douyu_decoder_next_frame(NULL, &f, NULL) == DOUYU_NULL_POINTER);
    EXPECT(douyu_decoder_buffered(NULL, &n) == DOUYU_NULL_POINTER);
    EXPECT(douyu_decoder_position(NULL, &u) == DOUYU_NULL_POINTER);
    EXPECT(douyu_map_new(NULL, 3, &m, NULL) == DOUYU_NULL_POINTER);
    EXPECT(douyu_map_new((const uint8_t *)"a@=b/", 5, NULL, NULL) == DOUYU_NULL_POINTER);
    EXPECT(douyu_map_pairs(NULL, &p) == DOUYU_NULL_POINTER);
    EXPECT(douyu_pairs_next(NULL, &t, &t, NULL) == DOUYU_NULL_POINTER);
    EXPECT(douyu_map_get(NULL, "a", &t, NULL) == DOUYU_NULL_POINTER);
    EXPECT(douyu_map_validate(NULL, &n, NULL) == DOUYU_NULL_POINTER);
    EXPECT(douyu_list_new(NULL, 2, &l, NULL) == DOUYU_NULL_POINTER);
    EXPECT(douyu_list_items(NULL, &it) == DOUYU_NULL_POINTER);
    EXPECT(douyu_items_next(NULL, &t, NULL) == DOUYU_NULL_POINTER);
    EXPECT(douyu_list_get(NULL, 0, &t, NULL) == DOUYU_NULL_POINTER);
    EXPECT(douyu_text_as_map(NULL, &m) == DOUYU_NULL_POINTER);
    EXPECT(douyu_text_as_list(NULL, &l) == DOUYU_NULL_POINTER);
    EXPECT(douyu_text_raw(NULL, (const uint8_t **)&w, &n) == DOUYU_NULL_POINTER);
    EXPECT(douyu_text_plain(NULL, (const uint8_t **)&w, &n) == DOUYU_NULL_POINTER);
    EXPECT(douyu_text_offset(NULL, &n) == DOUYU_NULL_POINTER);
    EXPECT(douyu_text_unescaped_len(NULL, &n) == DOUYU_NULL_POINTER);
    EXPECT(douyu_text_unescape(NULL, buf, sizeof buf, &n, NULL) == DOUYU_NULL_POINTER);
    EXPECT(douyu_text_equals(NULL, buf, 1, &b) == DOUYU_NULL_POINTER);
    EXPECT(douyu_client_config_init(1, NULL) == DOUYU_NULL_POINTER);
    EXPECT(douyu_client_new(NULL, 0, &c, NULL) == DOUYU_NULL_POINTER);
    EXPECT(douyu_client_config_init(1, &cfg) == DOUYU_OK);
    EXPECT(douyu_client_new(&cfg, 0, NULL, NULL) == DOUYU_NULL_POINTER);
    EXPECT(douyu_client_handle_input(NULL, 0, buf, 1, &n) == DOUYU_NULL_POINTER);
    EXPECT(douyu_client_receive_window(NULL, &w, &n) == DOUYU_NULL_POINTER);
    EXPECT(douyu_client_commit_input(NULL, 0, 0) == DOUYU_NULL_POINTER);
    EXPECT(douyu_client_poll_transmit(NULL, buf, sizeof buf, &n, NULL) == DOUYU_NULL_POINTER);
    EXPECT(douyu_client_poll_event(NULL, &ev) == DOUYU_NULL_POINTER);
    EXPECT(douyu_client_poll_timeout(NULL, &u) == DOUYU_NULL_POINTER);
    EXPECT(douyu_client_handle_timeout(NULL, 0) == DOUYU_NULL_POINTER);
    EXPECT(douyu_client_queue_chat(NULL, "hi", NULL) == DOUYU_NULL_POINTER);
    EXPECT(douyu_client_close(NULL) == DOUYU_NULL_POINTER);
    EXPECT(douyu_client_is_closed(NULL, &b) == DOUYU_NULL_POINTER);
    EXPECT(d == NULL && c == NULL);
    douyu_decoder_free(NULL);
    douyu_client_free(NULL);
    /* The error detail carries the code. */
    douyu_error e;
    EXPECT(douyu_frame_decode(NULL, 4, &f, &n, &e) == DOUYU_NULL_POINTER &&
           e.code == DOUYU_NULL_POINTER);
}

static void outputs_only_on_success(void) {
    douyu_frame f = {7, 7, 7, (const uint8_t *)"x", 1};
    size_t used = 777;
    douyu_error e;
    EXPECT(douyu_frame_decode(MRKL, 10, &f, &used, &e) == DOUYU_INCOMPLETE);
    EXPECT(e.needed == 12 && used == 777 && f.direction == 7 && f.body_len == 1);
    /* A frame with disagreeing lengths: its values in the details. */
    static const uint8_t bad[] = "\x14\0\0\0\x63\0\0\0\xb2\x02\0\0";
    EXPECT(douyu_frame_decode(bad, 12, &f, &used, &e) == DOUYU_LENGTH_MISMATCH);
    EXPECT(e.length == 20 && e.other_length == 99 && e.fatal && used == 777);

    douyu_map m;
    douyu_text t;
    const char *body = "nn@=a@Sb/";
    EXPECT(douyu_map_new((const uint8_t *)body, strlen(body), &m, NULL) == DOUYU_OK);
    EXPECT(douyu_map_get(&m, "nn", &t, NULL) == DOUYU_OK);
    uint8_t small[3] = {9, 9, 9};
    size_t len = 55;
    EXPECT(douyu_text_unescape(&t, small, sizeof small, &len, &e) == DOUYU_BUFFER_FULL);
    EXPECT(e.needed == 4 && e.capacity == 3 && len == 55);
    EXPECT(small[0] == 9 && small[1] == 9 && small[2] == 9);
    char text[4];
    EXPECT(douyu_text_unescape(&t, (uint8_t *)text, sizeof text, &len, &e) == DOUYU_OK);
    EXPECT(len == 3 && strcmp(text, "a/b") == 0);
    /* Not UTF-8: refused with the valid prefix's length. */
    EXPECT(douyu_map_new((const uint8_t *)"a@=\xff/", 5, &m, &e) == DOUYU_INVALID_UTF8);
    EXPECT(e.offset == 3);
}

static void foreign_views_are_refused(void) {
    douyu_map zero;
    memset(&zero, 0, sizeof zero);
    douyu_pairs p;
    douyu_text t;
    EXPECT(douyu_map_pairs(&zero, &p) == DOUYU_INVALID_ARGUMENT);
    EXPECT(douyu_map_get(&zero, "type", &t, NULL) == DOUYU_INVALID_ARGUMENT);
    douyu_pairs zp;
    memset(&zp, 0, sizeof zp);
    EXPECT(douyu_pairs_next(&zp, &t, &t, NULL) == DOUYU_INVALID_ARGUMENT);
    /* Copies are fine: a view is plain data the library made. */
    douyu_map m, copy;
    EXPECT(douyu_map_new((const uint8_t *)"a@=1/", 5, &m, NULL) == DOUYU_OK);
    memcpy(&copy, &m, sizeof m);
    bool equal = false;
    EXPECT(douyu_map_get(&copy, "a", &t, NULL) == DOUYU_OK);
    EXPECT(douyu_text_equals(&t, (const uint8_t *)"1", 1, &equal) == DOUYU_OK && equal);
}

static void decoder_bounds(void) {
    douyu_decoder *d = NULL;
    EXPECT(douyu_decoder_new(11, &d) == DOUYU_INVALID_ARGUMENT && d == NULL);
    EXPECT(douyu_decoder_new(32, &d) == DOUYU_OK && d != NULL);
    uint8_t *w;
    size_t room, taken;
    EXPECT(douyu_decoder_commit(d, 1) == DOUYU_INVALID_ARGUMENT); /* no window yet */
    EXPECT(douyu_decoder_window(d, &w, &room) == DOUYU_OK && room == 32);
    EXPECT(douyu_decoder_commit(d, 33) == DOUYU_INVALID_ARGUMENT);
    EXPECT(douyu_decoder_commit(d, 0) == DOUYU_OK);
    /* A 40-byte frame is too large for 32 bytes: skipped; the next decodes. */
    uint8_t big[40 + MRKL_LEN] = {36, 0, 0, 0, 36, 0, 0, 0, 0xb2, 0x02, 0, 0};
    memset(big + 12, 'x', 27);
    big[39] = 0;
    memcpy(big + 40, MRKL, MRKL_LEN);
    size_t at = 0;
    int too_large = 0, frames = 0;
    douyu_error e;
    douyu_frame f;
    while (at < sizeof big) {
        EXPECT(douyu_decoder_feed(d, big + at, sizeof big - at, &taken) == DOUYU_OK);
        at += taken;
        douyu_result r;
        while ((r = douyu_decoder_next_frame(d, &f, &e)) != DOUYU_INCOMPLETE) {
            if (r == DOUYU_TOO_LARGE) {
                too_large++;
                EXPECT(!e.fatal && e.stream_offset == 0 && e.needed == 40 && e.capacity == 32);
            } else {
                EXPECT(r == DOUYU_OK && f.body_len == 11 && memcmp(f.body, "type@=mrkl/", 11) == 0);
                frames++;
            }
        }
    }
    EXPECT(too_large == 1 && frames == 1);
    uint64_t position = 0;
    EXPECT(douyu_decoder_position(d, &position) == DOUYU_OK && position == sizeof big);
    douyu_decoder_free(d);
}

/* Whether hay holds needle (memmem is not in C11). */
static bool contains(const uint8_t *hay, size_t n, const char *needle) {
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0) return true;
    return false;
}

static void client_arguments(void) {
    douyu_client_config cfg;
    douyu_client *c = NULL;
    douyu_error e;
    EXPECT(douyu_client_config_init(9, &cfg) == DOUYU_OK);
    EXPECT(cfg.heartbeat_ms == 45000 && cfg.dead_after_ms == 90000 && cfg.login == DOUYU_LOGIN_TCP);
    cfg.username = "\xff";
    EXPECT(douyu_client_new(&cfg, 0, &c, &e) == DOUYU_INVALID_UTF8 && c == NULL);
    cfg.username = NULL;
    cfg.login = 5;
    EXPECT(douyu_client_new(&cfg, 0, &c, &e) == DOUYU_INVALID_ARGUMENT && c == NULL);
    cfg.login = DOUYU_LOGIN_WEB;
    cfg.web_uid = 1234567;
    EXPECT(douyu_client_new(&cfg, 0, &c, &e) == DOUYU_OK && c != NULL);
    uint8_t tx[DOUYU_TRANSMIT_MAX];
    size_t n = 0;
    /* Too small: nothing written, the exact size asked for, the same frame next. */
    memset(tx, 0xA5, sizeof tx);
    EXPECT(douyu_client_poll_transmit(c, tx, 20, &n, &e) == DOUYU_BUFFER_FULL && n == 0);
    EXPECT(e.capacity == 20 && e.needed > 20);
    size_t untouched = 0;
    while (untouched < sizeof tx && tx[untouched] == 0xA5) untouched++;
    EXPECT(untouched == sizeof tx);
    size_t needed = e.needed;
    EXPECT(douyu_client_poll_transmit(c, tx, needed - 1, &n, &e) == DOUYU_BUFFER_FULL &&
           e.needed == needed);
    EXPECT(douyu_client_poll_transmit(c, tx, sizeof tx, &n, &e) == DOUYU_OK);
    EXPECT(n == needed && n > 13 && contains(tx, n, "username@=visitor1234567/"));
    EXPECT(douyu_client_queue_chat(c, "\xff", &e) == DOUYU_INVALID_UTF8);
    EXPECT(douyu_client_close(c) == DOUYU_OK);
    EXPECT(douyu_client_queue_chat(c, "late", &e) == DOUYU_NOT_READY);
    douyu_client_free(c);
}

static void messages(void) {
    for (uint32_t code = 0; code < 128; code++)
        EXPECT(douyu_result_message(code) != NULL && douyu_result_message(code)[0] != 0);
    EXPECT(strcmp(douyu_result_message(DOUYU_OK), "success") == 0);
    EXPECT(strcmp(douyu_result_message(7), "unknown result code") == 0);
    EXPECT(strcmp(douyu_version(), "0.1.0") == 0);
}

int main(void) {
    null_pointers();
    outputs_only_on_success();
    foreign_views_are_refused();
    decoder_bounds();
    client_arguments();
    messages();
    printf("api: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
