// Growable byte buffers owned by C (results, errors, the script log).

#include "ShimInternal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// MARK: - buffers

void fb_buffer_free(fb_buffer *b) {
    if (!b) return;
    free(b->data);
    b->data = NULL;
    b->length = b->capacity = 0;
}

static int buffer_reserve(fb_buffer *b, size_t extra) {
    if (b->length + extra <= b->capacity) return 1;
    size_t cap = b->capacity ? b->capacity : 256;
    while (cap < b->length + extra) cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p) return 0;
    b->data = p;
    b->capacity = cap;
    return 1;
}

int fb_buffer_append(fb_buffer *b, const void *bytes, size_t n) {
    if (!buffer_reserve(b, n)) return 0;
    memcpy(b->data + b->length, bytes, n);
    b->length += n;
    return 1;
}

void fb_buffer_set_string(fb_buffer *b, const char *s) {
    if (!b) return;
    b->length = 0;
    fb_buffer_append(b, s, strlen(s));
}
