// The HTTP client of cloud drivers, over libcurl's easy interface. Foundation's
// URLSession on Linux (also libcurl underneath) left four small blocks behind
// per request (LeakSanitizer: about 70 bytes each): a cloud charger polled
// every second would have grown the controller by megabytes a week. Here every
// allocation is ours to free, and one handle per device keeps its connection.

#include "CHTTP.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fb_http {
    CURL *curl;
    CURLU *url;   // the next request's URL, as fb_http_set_url parsed it
    char *body;
    size_t length, capacity, limit;
    int over_limit;
    char error[CURL_ERROR_SIZE];
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static void global_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

fb_http *fb_http_new(void) {
    pthread_once(&global_once, global_init);
    fb_http *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->curl = curl_easy_init();
    if (!h->curl) { free(h); return NULL; }
    return h;
}

void fb_http_free(fb_http *h) {
    if (!h) return;
    curl_url_cleanup(h->url);
    curl_easy_cleanup(h->curl);
    free(h->body);
    free(h);
}

static size_t take(char *data, size_t size, size_t count, void *context) {
    fb_http *h = context;
    size_t n = size * count;
    if (h->length + n > h->limit) { h->over_limit = 1; return 0; }   // curl stops with a write error
    if (h->length + n + 1 > h->capacity) {
        size_t capacity = h->capacity ? h->capacity : 4096;
        while (capacity < h->length + n + 1) capacity *= 2;
        char *grown = realloc(h->body, capacity);
        if (!grown) return 0;
        h->body = grown;
        h->capacity = capacity;
    }
    memcpy(h->body + h->length, data, n);
    h->length += n;
    h->body[h->length] = 0;
    return n;
}

// Copies part `what` of `u` into `out` (empty when the URL has none).
static void url_part(CURLU *u, CURLUPart what, char *out, size_t size) {
    char *part = NULL;
    out[0] = 0;
    if (curl_url_get(u, what, &part, 0) == CURLUE_OK && part) snprintf(out, size, "%s", part);
    curl_free(part);
}

static int parse(CURLU *u, const char *url, fb_url_parts *parts, char *error, size_t error_size) {
    CURLUcode rc = curl_url_set(u, CURLUPART_URL, url, 0);
    if (rc != CURLUE_OK) {
        snprintf(error, error_size, "%s", curl_url_strerror(rc));
        return -1;
    }
    url_part(u, CURLUPART_SCHEME, parts->scheme, sizeof parts->scheme);
    url_part(u, CURLUPART_HOST, parts->host, sizeof parts->host);
    url_part(u, CURLUPART_PORT, parts->port, sizeof parts->port);
    return 0;
}

int fb_url_parts_of(const char *url, fb_url_parts *parts) {
    CURLU *u = curl_url();
    char error[CURL_ERROR_SIZE];
    int rc = u ? parse(u, url, parts, error, sizeof error) : -1;
    curl_url_cleanup(u);
    return rc;
}

int fb_http_set_url(fb_http *h, const char *url, fb_url_parts *parts) {
    if (!h->url) h->url = curl_url();
    if (!h->url) { snprintf(h->error, sizeof h->error, "out of memory"); return -1; }
    return parse(h->url, url, parts, h->error, sizeof h->error);
}

long fb_http_perform(fb_http *h, const char *method, const char *headers,
                     const char *body, size_t body_length, long timeout_ms, size_t max_response) {
    CURL *c = h->curl;
    h->length = 0;
    h->over_limit = 0;
    h->limit = max_response;
    h->error[0] = 0;
    if (h->body) h->body[0] = 0;

    struct curl_slist *list = NULL;
    if (headers) {
        const char *line = headers;
        while (*line) {
            const char *end = strchr(line, '\n');
            size_t n = end ? (size_t)(end - line) : strlen(line);
            char *copy = strndup(line, n);
            if (!copy) break;
            struct curl_slist *appended = curl_slist_append(list, copy);
            free(copy);
            if (!appended) break;
            list = appended;
            line += n + (end ? 1 : 0);
        }
    }

    // Without this, curl asks before sending a body over 1 KiB and waits a second for "go on".
    struct curl_slist *with_expect = curl_slist_append(list, "Expect:");
    if (with_expect) list = with_expect;

    curl_easy_reset(c);   // keeps the connection cache, forgets the last request's options
    if (!h->url) { snprintf(h->error, sizeof h->error, "no URL"); return -1; }
    curl_easy_setopt(c, CURLOPT_CURLU, h->url);   // the URL the allow list was checked on
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);   // threads: no SIGALRM for timeouts
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->error);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, take);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "fusebox");
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        if (body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_length);
        }
    }

    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(list);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    if (rc != CURLE_OK) {
        if (h->over_limit) {
            snprintf(h->error, sizeof h->error, "answer over %zu bytes", max_response);
        } else if (rc == CURLE_OPERATION_TIMEDOUT) {
            snprintf(h->error, sizeof h->error, "no answer within %.3g s", timeout_ms / 1000.0);
        } else if (!h->error[0]) {
            snprintf(h->error, sizeof h->error, "%s", curl_easy_strerror(rc));
        }
        return -1;
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

const char *fb_http_body(const fb_http *h, size_t *length) {
    *length = h->length;
    return h->body ? h->body : "";
}

const char *fb_http_error(const fb_http *h) { return h->error; }
