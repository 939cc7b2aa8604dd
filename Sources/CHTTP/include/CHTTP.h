#ifndef FUSEBOX_CHTTP_H
#define FUSEBOX_CHTTP_H

#include <stddef.h>

/// One HTTP client for one cloud device: a libcurl easy handle (its connection
/// kept alive between requests) and the last answer. Not thread-safe: its
/// owner (the device's queue) uses it alone.
typedef struct fb_http fb_http;

fb_http *fb_http_new(void);
void fb_http_free(fb_http *http);

/// One request: `headers` are "Name: value" lines, each ended by "\n";
/// `body` may be NULL. Only http and https, no redirects followed, at most
/// `max_response` bytes of answer. Returns the HTTP status, or -1 with the
/// reason in `fb_http_error`. The answer stays readable until the next request.
long fb_http_perform(fb_http *http, const char *method, const char *url, const char *headers,
                     const char *body, size_t body_length, long timeout_ms, size_t max_response);

const char *fb_http_body(const fb_http *http, size_t *length);
const char *fb_http_error(const fb_http *http);

#endif
