#ifndef FUSEBOX_CLUASHIM_H
#define FUSEBOX_CLUASHIM_H

// The only door between Swift and a Lua state.
//
// Swift never touches lua_State directly: every Lua API call that can raise an
// error (allocation, metamethods, the budget hook) runs below lua_pcall inside
// this file, so a longjmp can never cross a Swift frame. Values travel in both
// directions as a flat byte "tape" (see fb_tape_* below) instead of through
// individual push/get calls.

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fb_sandbox fb_sandbox;

/// Why a call failed. Stable numbers: Swift maps them to typed errors.
typedef enum {
    FB_OK = 0,
    FB_ERR_RUNTIME = 1,      ///< the script raised an error
    FB_ERR_SYNTAX = 2,       ///< the chunk does not compile (or is binary)
    FB_ERR_MEMORY = 3,       ///< the memory ceiling was hit
    FB_ERR_INSTRUCTIONS = 4, ///< the instruction budget was spent
    FB_ERR_TIME = 5,         ///< the wall-clock deadline passed
    FB_ERR_RESULT = 6,       ///< a result could not be encoded (too deep, too large)
    FB_ERR_CONTRACT = 7,     ///< the module is not a table or lacks the function
    FB_ERR_HANDLER = 8,      ///< error while handling an error (e.g. stack overflow)
} fb_status;

/// Per-call limits. A call that breaks one ends with the matching fb_status.
typedef struct {
    uint64_t instructions;   ///< VM instructions per call (counted in steps of `hook_step`)
    uint64_t time_ns;        ///< wall-clock budget per call
} fb_budget;

/// A growable byte buffer owned by C; free with fb_buffer_free.
typedef struct {
    uint8_t *data;
    size_t length;
    size_t capacity;
} fb_buffer;

void fb_buffer_free(fb_buffer *buffer);

/// Tape tags. A table is `T`, u32 array-size hint, u32 hash-size hint, then
/// key/value pairs, then `E`. Numbers are little-endian.
enum {
    FB_TAPE_NIL = 'n',
    FB_TAPE_TRUE = 't',
    FB_TAPE_FALSE = 'f',
    FB_TAPE_NUMBER = 'd',    ///< 8-byte IEEE double
    FB_TAPE_INTEGER = 'i',   ///< 8-byte two's complement
    FB_TAPE_STRING = 's',    ///< u32 length, bytes
    FB_TAPE_TABLE = 'T',
    FB_TAPE_END = 'E',
    FB_TAPE_OPAQUE = 'x',    ///< a function, userdata or thread: u32 length, type name
    FB_TAPE_NUMBERS = 'N',   ///< a list: u32 count, that many 8-byte doubles
    FB_TAPE_INTEGERS = 'I',  ///< a list: u32 count, that many 8-byte integers
};

/// A list of numbers the prelude gathered from Lua tables for the host's
/// sharing code.
typedef struct {
    const double *values;
    size_t count;
} fb_numbers;

/// One call of `fusebox.fill`, `fits`, `fill_and_fits` or `fill_in_turn`
/// (docs/policies.md): the site as the shim read it (each charger's min and
/// max, each limit's available, members and weights), and the lists the
/// policy prelude made of the call's arguments. Charger indices are 1-based,
/// as in Lua; `limit_start` holds 0-based offsets into `members` and
/// `weights`, one more than there are limits; `group_start` the same into
/// `order`. `fixed`, `extra`, `reserved` and `caps` (a cap below each max)
/// are per charger or empty.
typedef struct {
    fb_numbers lower, upper, available, limit_start, members, weights;
    fb_numbers fixed, extra, reserved, caps;
    fb_numbers group_start, order, hold;
    int admit_only;       ///< `fits`: admission only, no sharing
    double *allocation;   ///< out: amps per charger, room for `lower.count`
    int all_fit;          ///< out: every charger of the (single) order was admitted
} fb_fill_request;

/// `fusebox.sort`: `keys` holds `key_count` numbers per value, value by value.
typedef struct {
    fb_numbers keys, values;
    int key_count;
    double *order;        ///< out: a permutation of 1...values.count
} fb_sort_request;

/// The host's sharing code, in Swift (FuseboxCore's WaterFill, reached through
/// FuseboxLua's SharingBridge.swift). They never raise and never call into Lua:
/// 0 on success, -1 when the lists do not fit together, and the shim raises
/// only after they have returned.
int fb_host_fill(fb_fill_request *request);
int fb_host_sort(fb_sort_request *request);

/// Creates a sandboxed state: the allow-listed libraries, text-only `load`,
/// `collectgarbage("count")` only, protected string metatable, seeded
/// `math.random`, the counting allocator and the budget hook. NULL on failure
/// (with a reason in `error`, which must be freed).
fb_sandbox *fb_open(size_t memory_limit, uint64_t random_seed, fb_buffer *error);
void fb_close(fb_sandbox *sandbox);

/// Compiles `source` (text only) under `chunkname`, runs it within `budget` and
/// keeps the value it returns as the module. The module must be a table.
/// On failure returns the status and writes the message to `error`.
fb_status fb_load(fb_sandbox *sandbox, const char *chunkname, const char *source,
                  size_t length, fb_budget budget, fb_buffer *error);

/// Calls `module[function](args...)` where args are `nargs` values on the tape
/// `args`, made anew for this call. On success `results` holds a u32 count and
/// that many values. If `persist` is non-NULL and args[1] is a table,
/// `args[1][persist]` is set to the state's kept table before the call, and
/// whatever table is there after it is kept for the next call (it never
/// crosses into Swift); anything but a table there is an FB_ERR_RESULT.
fb_status fb_call(fb_sandbox *sandbox, const char *function, const uint8_t *args,
                  size_t args_length, uint32_t nargs, const char *persist,
                  fb_budget budget, fb_buffer *results, fb_buffer *error);

/// The kept table, encoded as one tape value; and replacing it from a tape.
fb_status fb_persistent_get(fb_sandbox *sandbox, fb_buffer *out, fb_buffer *error);
fb_status fb_persistent_set(fb_sandbox *sandbox, const uint8_t *tape, size_t length, fb_buffer *error);

/// Reads module[name] raw and encodes it as one tape value.
fb_status fb_module_field(fb_sandbox *sandbox, const char *name, fb_buffer *result,
                          fb_buffer *error);

/// A device's I/O, done by the host: `function` is a Modbus function code, `values`
/// holds `count` values to write or room for `count` values read (bits as 0/1).
/// Returns 0 on success, else writes a message into `error`. It must not call
/// back into Lua: the shim raises or returns only after it has returned.
typedef int (*fb_io_function)(void *context, int function, int address, int count, uint16_t *values,
                              char *error, size_t error_length);

/// Gives the script's `dev` argument its methods (read_holding, read_input,
/// read_coils, read_discrete, write_register, write_registers, write_coil),
/// which call `io` with `context`. Calls made with `fb_call` then set that
/// metatable on their first argument.
fb_status fb_set_device_io(fb_sandbox *sandbox, fb_io_function io, void *context, fb_buffer *error);

/// The host's HTTP request for cloud drivers (`dev:http`): `headers` is
/// "Name: value" lines, each ended by "\n". Returns the HTTP status, with
/// `*response` pointing at the body (owned by the host, valid until its next
/// request), or -1 with `error` filled. Called with no Lua call in progress
/// on the host's side: it must not call back into Lua.
typedef int (*fb_http_function)(void *context, const char *method, const char *url, const char *headers,
                                const char *body, size_t body_length, int timeout_ms,
                                const char **response, size_t *response_length, char *error, size_t error_length);

/// Gives `dev` its `http` method, calling `http` with the context of
/// `fb_set_device_io` (set that first).
void fb_set_device_http(fb_sandbox *sandbox, fb_http_function http);

/// Bytes the state holds now, and the most it held since it was opened.
size_t fb_memory_used(const fb_sandbox *sandbox);

/// Bytes all Lua states of this process hold together.
size_t fb_memory_used_by_all_states(void);
size_t fb_memory_peak(const fb_sandbox *sandbox);
/// Instructions counted during the last call (to the hook's granularity).
uint64_t fb_last_instructions(const fb_sandbox *sandbox);

/// Lines the script printed with `print`/`log` since the last take, one per line.
void fb_take_log(fb_sandbox *sandbox, fb_buffer *into);

#ifdef __cplusplus
}
#endif

#endif
