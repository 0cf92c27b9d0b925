/*
 * A client session through the C ABI over a real TCP socket: connect to
 * `douyu serve --simulate` on 127.0.0.1, log in, join, receive chat lines,
 * send one of our own, log out, and check the session ends cleanly.
 *
 * The loop is the host a firmware would write: bytes and the time go in,
 * frames to send and events come out; no protocol knowledge here beyond
 * which events to wait for.
 *
 * Usage: session HOST:PORT ROOM     (exit 0 on success; bounded at 20 s)
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "douyu.h"

#define LIMIT_MS 20000
#define CHATS_WANTED 3
#define NICKNAME "c-session"
#define OUR_LINE "hello from C: a/b@c"

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int fail(const char *what, douyu_result r) {
    fprintf(stderr, "session: %s: %s\n", what, douyu_result_message((uint32_t)r));
    return 1;
}

static int connect_to(const char *hostport) {
    char host[64];
    const char *colon = strrchr(hostport, ':');
    if (!colon || (size_t)(colon - hostport) >= sizeof host) return -1;
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = 0;
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) return -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const uint8_t *p, size_t n) {
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Whether the map's field `key` equals `want` (unescaped). */
static bool field_is(const douyu_map *m, const char *key, const char *want) {
    douyu_text t;
    bool equal = false;
    return douyu_map_get(m, key, &t, NULL) == DOUYU_OK &&
           douyu_text_equals(&t, (const uint8_t *)want, strlen(want), &equal) == DOUYU_OK && equal;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: session HOST:PORT ROOM\n");
        return 2;
    }
    int fd = connect_to(argv[1]);
    if (fd < 0) {
        perror("session: connect");
        return 1;
    }
    douyu_client_config config;
    douyu_result r = douyu_client_config_init(strtoull(argv[2], NULL, 10), &config);
    if (r != DOUYU_OK) return fail("config_init", r);
    config.username = NICKNAME;
    config.rx_capacity = 16 * 1024;

    uint64_t start = now_ms();
    douyu_client *client = NULL;
    douyu_error err;
    r = douyu_client_new(&config, start, &client, &err);
    if (r != DOUYU_OK) return fail("client_new", r);

    bool logged_in = false, joined = false, sent_ours = false, closing = false, closed = false;
    int chats = 0, ours_seen = 0, status = 1;
    uint8_t tx[DOUYU_TRANSMIT_MAX];
    char nick[64];

    while (!closed) {
        uint64_t now = now_ms();
        if (now - start > LIMIT_MS) {
            fprintf(stderr, "session: timed out (logged_in=%d joined=%d chats=%d)\n", logged_in,
                    joined, chats);
            goto out;
        }
        /* Everything the session has to send. */
        size_t n;
        while ((r = douyu_client_poll_transmit(client, tx, sizeof tx, &n, &err)) == DOUYU_OK) {
            if (send_all(fd, tx, n) != 0) {
                perror("session: send");
                goto out;
            }
        }
        if (r != DOUYU_DONE) {
            fail("poll_transmit", r);
            goto out;
        }
        /* Everything that happened. */
        douyu_event ev;
        while (douyu_client_poll_event(client, &ev) == DOUYU_OK) {
            switch (ev.kind) {
            case DOUYU_EVENT_LOGGED_IN: logged_in = true; break;
            case DOUYU_EVENT_JOINED:
                joined = true;
                /* Our own line, relayed back to the room, arrives as a chat. */
                r = douyu_client_queue_chat(client, OUR_LINE, &err);
                if (r != DOUYU_OK) {
                    fail("queue_chat", r);
                    goto out;
                }
                sent_ours = true;
                break;
            case DOUYU_EVENT_MESSAGE:
                if (field_is(&ev.message, "type", "chatmsg")) {
                    chats++;
                    douyu_text nn;
                    size_t len;
                    if (douyu_map_get(&ev.message, "nn", &nn, NULL) == DOUYU_OK &&
                        douyu_text_unescape(&nn, (uint8_t *)nick, sizeof nick, &len, NULL) ==
                            DOUYU_OK &&
                        strcmp(nick, NICKNAME) == 0 && field_is(&ev.message, "txt", OUR_LINE))
                        ours_seen++;
                }
                break;
            case DOUYU_EVENT_CLOSED:
                closed = true;
                if (ev.reason != DOUYU_CLOSE_LOGOUT) {
                    fprintf(stderr, "session: closed for reason %d\n", (int)ev.reason);
                    goto out;
                }
                break;
            case DOUYU_EVENT_INVALID:
                fprintf(stderr, "session: invalid input: %s\n",
                        douyu_result_message((uint32_t)ev.error.code));
                goto out;
            default:
                fprintf(stderr, "session: unexpected event %d\n", (int)ev.kind);
                goto out;
            }
        }
        if (!closing && joined && chats >= CHATS_WANTED && ours_seen > 0) {
            r = douyu_client_close(client);
            if (r != DOUYU_OK) {
                fail("close", r);
                goto out;
            }
            closing = true;
            continue; /* send the logout */
        }
        if (closed) break;
        /* Sleep until input or the session's next deadline (at most 100 ms). */
        uint64_t deadline;
        int wait = 100;
        if (douyu_client_poll_timeout(client, &deadline) == DOUYU_OK) {
            now = now_ms();
            wait = deadline <= now ? 0 : (deadline - now < 100 ? (int)(deadline - now) : 100);
        }
        struct pollfd pfd = {fd, POLLIN, 0};
        int ready = poll(&pfd, 1, wait);
        if (ready < 0 && errno != EINTR) {
            perror("session: poll");
            goto out;
        }
        now = now_ms();
        if (ready > 0) {
            /* Read straight into the session's receive window. */
            uint8_t *window;
            size_t room;
            r = douyu_client_receive_window(client, &window, &room);
            if (r != DOUYU_OK || room == 0) {
                fail("receive_window", r);
                goto out;
            }
            ssize_t got = recv(fd, window, room, 0);
            if (got == 0) {
                fprintf(stderr, "session: the server closed the connection\n");
                goto out;
            }
            if (got < 0) {
                if (errno == EINTR) continue;
                perror("session: recv");
                goto out;
            }
            r = douyu_client_commit_input(client, now, (size_t)got);
            if (r != DOUYU_OK) {
                fail("commit_input", r);
                goto out;
            }
        }
        r = douyu_client_handle_timeout(client, now);
        if (r != DOUYU_OK) {
            fail("handle_timeout", r);
            goto out;
        }
    }
    bool is_closed = false;
    if (douyu_client_is_closed(client, &is_closed) != DOUYU_OK || !is_closed) {
        fprintf(stderr, "session: not closed after the logout\n");
        goto out;
    }
    if (!(logged_in && joined && sent_ours && chats >= CHATS_WANTED && ours_seen == 1)) {
        fprintf(stderr, "session: incomplete (logged_in=%d joined=%d chats=%d ours=%d)\n",
                logged_in, joined, chats, ours_seen);
        goto out;
    }
    printf("session: logged in, joined, %d chat lines (ours among them), logged out in %llu ms\n",
           chats, (unsigned long long)(now_ms() - start));
    status = 0;
out:
    douyu_client_free(client);
    close(fd);
    return status;
}
