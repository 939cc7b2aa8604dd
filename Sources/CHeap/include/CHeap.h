#ifndef FUSEBOX_CHEAP_H
#define FUSEBOX_CHEAP_H

#include <stddef.h>

/// Bytes malloc has handed out and not had back: small blocks in use plus
/// mmapped large ones (glibc's mallinfo2, which Swift's Glibc module lacks).
size_t fb_heap_in_use(void);

#endif
