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
} fb_control;

struct fb_sandbox {
    lua_State *L;
    fb_control control;
    fb_io_function io;      // a device's I/O, when the script is a driver
    void *io_context;
    fb_http_function http;  // a cloud driver's HTTP, when it has one
};

// Device.c: the `dev` methods of driver scripts.
extern const char fb_device_meta_key;
int fb_device_meta_setup(lua_State *L);

// Buffers.c
int fb_buffer_append(fb_buffer *b, const void *bytes, size_t n);
void fb_buffer_set_string(fb_buffer *b, const char *s);

// Sandbox.c
fb_control *fb_control_of(lua_State *L);
void fb_arm_thread(lua_State *L, lua_State *co);

// Libraries.c: the allow-listed libraries and their sandboxed replacements.
// Runs under lua_pcall with a setup_args light userdata as its argument.
typedef struct { uint64_t seed; } setup_args;
int fb_sandbox_setup(lua_State *L);

// Tape.c: values between the tape and the Lua stack. Decoding raises in C;
// encoding never raises (a failure is noted in the writer).
typedef struct {
    const uint8_t *p, *end;
} reader;

typedef struct {
    fb_buffer *out;
    int failed;
    const char *why;
} writer;

void fb_reader_open(reader *r, const uint8_t *tape, size_t length);
int fb_push_value(lua_State *L, reader *r, int depth);
void fb_encode_value(lua_State *L, int idx, writer *w, int depth);
void fb_put_count(writer *w, uint32_t count);

// Sharing.c: the trampolines of the policy prelude's sharing helpers.
int fb_lua_water_fill(lua_State *L);
int fb_lua_sort_order(lua_State *L);

#endif
