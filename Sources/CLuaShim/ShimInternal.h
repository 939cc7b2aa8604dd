// Shared between the shim's files; not part of the Swift-facing API.
#ifndef FUSEBOX_SHIM_INTERNAL_H
#define FUSEBOX_SHIM_INTERNAL_H

#define _POSIX_C_SOURCE 200809L   // clock_gettime

#include "CLuaShim.h"

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include <stdint.h>
#include <stddef.h>
#include <string.h>   // memcpy in FB_DEFINE_MERGE_SORT

// Hook granularity while a budget holds; once it is spent the hook fires on
// every instruction so that a `pcall` in the script cannot outrun it.
#define FB_HOOK_STEP 1000
#define FB_MAX_DEPTH 48
#define FB_MAX_RESULT_BYTES (4u << 20)
#define FB_LOG_LIMIT 8192
#define FB_MESSAGE_LIMIT 1024

typedef enum { TRIP_NONE = 0, TRIP_INSTRUCTIONS, TRIP_TIME } trip_reason;

typedef struct {
    size_t used, peak, limit;
    size_t published;            // what all_states_bytes holds of `used` (Sandbox.c)
    int memory_refused;          // the allocator refused a block during this call
    uint64_t instructions, instruction_limit;
    uint64_t deadline_ns, time_budget_ns;
    int hook_step;
    trip_reason tripped;
    char message[FB_MESSAGE_LIMIT];   // written by the message handler, no allocation
    char where[FB_MESSAGE_LIMIT / 4]; // first Lua frame at the error: "chunk:line"
    fb_buffer log;
    int site_touched;            // a script added a field to a table the host reuses (Tape.c)
} fb_control;

struct fb_sandbox {
    lua_State *L;
    fb_control control;
    fb_io_function io;      // a device's I/O, when the script is a driver
    void *io_context;
    fb_http_function http;  // a cloud driver's HTTP, when it has one
};

// Device.c: the `dev` methods of driver scripts.
extern const char device_meta_key;
int device_meta_setup(lua_State *L);

// Buffers.c
int buffer_append(fb_buffer *b, const void *bytes, size_t n);
void buffer_set_string(fb_buffer *b, const char *s);

// Sandbox.c
fb_control *control_of(lua_State *L);
void arm_thread(lua_State *L, lua_State *co);

// Libraries.c: the allow-listed libraries and their sandboxed replacements.
// Runs under lua_pcall with a setup_args light userdata as its argument.
typedef struct { uint64_t seed; } setup_args;
int sandbox_setup(lua_State *L);

// Tape.c: values between the tape and the Lua stack. Both raise in C.
// `cache` and `symbols` are the stack slots of the state's skeleton cache and
// symbol table while a tape is decoded (reader_open .. reader_close).
typedef struct {
    const uint8_t *p, *end;
    int cache, symbols;
} reader;

typedef struct {
    fb_buffer *out;
    int failed;
    const char *why;
} writer;

void reader_open(lua_State *L, reader *r, const uint8_t *tape, size_t length);
void reader_close(lua_State *L, reader *r);
int push_value(lua_State *L, reader *r, int depth);
void encode_value(lua_State *L, int idx, writer *w, int depth);
void encode_keyed(lua_State *L, int idx, int keys, writer *w);
void push_charger_keys(lua_State *L);
void push_cached(lua_State *L, lua_Integer slot);

// Details.c: a charger's fields of this cycle, read on demand (FB_TAPE_DETAILS,
// FB_TAPE_DETAILED), and the proxies in site.chargers.
typedef struct {
    uint32_t count;
    fb_charger_details records[];
} details_block;
void push_details_block(lua_State *L, reader *r);
void set_details_metatable(lua_State *L, int table);
void mark_if_proxy(lua_State *L, int meta);
// For the native helpers: this cycle's block, or NULL; it lives until the
// next call's tape.
const details_block *current_details(lua_State *L);
// The record behind the table at `idx` when it is an empty proxy of the host,
// which is what a script reading its fields would see; else NULL (then the
// helpers read through metamethods, as a script would).
const fb_charger_details *proxy_details(lua_State *L, int idx, const details_block *b);
void put(writer *w, const void *bytes, size_t n);

// Fill.c: the native part of `fusebox` (fill, fits, fill_and_fits,
// fill_in_turn, wanting, power_limit).
int native_fill(lua_State *L);
int native_fits(lua_State *L);
int native_wanting(lua_State *L);
int native_fill_and_fits(lua_State *L);
int native_power_limit(lua_State *L);
int native_fill_in_turn(lua_State *L);
// Switches.c: fusebox.switches and fusebox.record_switches.
int native_switches(lua_State *L);
int native_record_switches(lua_State *L);
// Sort.c
int native_sort(lua_State *L);

// A stable bottom-up merge sort of `type`, ordered by `before(a, b)` (two
// pointers), with `tmp` holding n elements: one typed copy per element type,
// so that no comparison goes through a function pointer as with qsort.
#define FB_DEFINE_MERGE_SORT(name, type, before)                                      \
    static void name(type *a, type *tmp, int n) {                                     \
        type *from = a, *to = tmp;                                                    \
        for (int width = 1; width < n; width *= 2) {                                  \
            for (int lo = 0; lo < n; lo += 2 * width) {                               \
                int mid = lo + width < n ? lo + width : n;                            \
                int hi = lo + 2 * width < n ? lo + 2 * width : n;                     \
                int i = lo, j = mid, k = lo;                                          \
                while (i < mid && j < hi) to[k++] = before(&from[j], &from[i]) ? from[j++] : from[i++]; \
                while (i < mid) to[k++] = from[i++];                                  \
                while (j < hi) to[k++] = from[j++];                                   \
            }                                                                         \
            type *swap = from; from = to; to = swap;                                  \
        }                                                                             \
        if (from != a) memcpy(a, from, (size_t)n * sizeof(type));                     \
    }

#endif
