#ifndef FUSEBOX_CHTTP_H
#define FUSEBOX_CHTTP_H

#include <stddef.h>

/// One HTTP client for one cloud device: a libcurl easy handle (its connection
/// kept alive between requests) and the last answer. Not thread-safe: its
/// owner (the device's queue) uses it alone.
typedef struct fb_http fb_http;

fb_http *fb_http_new(void);
void fb_http_free(fb_http *http);

/// A URL as libcurl's parser reads it: the scheme and host (empty when
/// absent) and the port the URL names (empty when it names none).
typedef struct {
    char scheme[16];
    char host[256];
    char port[8];
} fb_url_parts;

/// Parses `url` with libcurl's URL parser; 0, or -1 when it is no URL.
int fb_url_parts_of(const char *url, fb_url_parts *parts);

/// Parses `url` as `fb_url_parts_of` does and keeps it for the next request:
/// the URL a caller checked is the one the request goes to, not a second
/// reading of the same text. 0, or -1 with the reason in `fb_http_error`.
int fb_http_set_url(fb_http *http, const char *url, fb_url_parts *parts);

/// One request to the URL of the last `fb_http_set_url`: `headers` are
/// "Name: value" lines, each ended by "\n"; `body` may be NULL. Only http and
/// https, no redirects followed, at most `max_response` bytes of answer.
/// Returns the HTTP status, or -1 with the reason in `fb_http_error`. The
/// answer stays readable until the next request.
long fb_http_perform(fb_http *http, const char *method, const char *headers,
                     const char *body, size_t body_length, long timeout_ms, size_t max_response);

const char *fb_http_body(const fb_http *http, size_t *length);
const char *fb_http_error(const fb_http *http);

#endif
