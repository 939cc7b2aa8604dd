// The sandbox: state lifecycle, the counting allocator, the budget hook, error
// capture, and the entry points Swift calls. See CLuaShim.h for why this is C.

#include "ShimInternal.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// MARK: - allocator, clock, hook

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

// Bytes every Lua state of the process holds, for the soak's memory report.
// Each state adds what changed once per call into it (publish_memory), not on
// every allocation: an atomic on the allocator's path costs every policy call.
static _Atomic size_t all_states_bytes = 0;

size_t fb_memory_used_by_all_states(void) { return all_states_bytes; }

static void publish_memory(fb_control *c) {
    if (c->used == c->published) return;
    atomic_fetch_add_explicit(&all_states_bytes, c->used - c->published, memory_order_relaxed);   // wraps back when it shrinks
    c->published = c->used;
}

static void *counting_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    fb_control *c = ud;
    size_t old = ptr ? osize : 0;   // for a new block osize is a type tag, not a size
    if (nsize == 0) {
        free(ptr);
        c->used -= old;
        return NULL;
    }
    if (nsize > old && c->used + (nsize - old) > c->limit) {
        c->memory_refused = 1;
        return NULL;               // Lua turns this into a memory error, raised in C
    }
    void *p = realloc(ptr, nsize);
    if (!p) return NULL;
    c->used = c->used - old + nsize;
    if (c->used > c->peak) c->peak = c->used;
    return p;
}

fb_control *fb_control_of(lua_State *L) {
    void *ud = NULL;
    lua_getallocf(L, &ud);
    return ud;
}

static void budget_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    fb_control *c = fb_control_of(L);
    c->instructions += (uint64_t)c->hook_step;
    if (c->tripped == TRIP_NONE) {
        if (c->instructions > c->instruction_limit) c->tripped = TRIP_INSTRUCTIONS;
        else if (now_ns() > c->deadline_ns) c->tripped = TRIP_TIME;
    }
    if (c->tripped == TRIP_NONE) return;
    // Keep firing on every instruction of this thread from now on.
    c->hook_step = 1;
    lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
    if (c->tripped == TRIP_INSTRUCTIONS)
        luaL_error(L, "instruction budget of %d exceeded", (int)c->instruction_limit);
    else
        luaL_error(L, "time budget of %d ms exceeded", (int)(c->time_budget_ns / 1000000));
}

void fb_arm_thread(lua_State *L, lua_State *co) {
    fb_control *c = fb_control_of(L);
    lua_sethook(co, budget_hook, LUA_MASKCOUNT, c->tripped ? 1 : FB_HOOK_STEP);
}

static void arm(fb_sandbox *s, fb_budget budget) {
    fb_control *c = &s->control;
    c->instructions = 0;
    c->instruction_limit = budget.instructions;
    c->time_budget_ns = budget.time_ns;
    c->deadline_ns = now_ns() + budget.time_ns;
    c->tripped = TRIP_NONE;
    c->memory_refused = 0;
    c->hook_step = FB_HOOK_STEP;
    c->message[0] = 0;
    c->where[0] = 0;
    lua_sethook(s->L, budget_hook, LUA_MASKCOUNT, FB_HOOK_STEP);
}

// MARK: - error capture (never allocates)

static void record_where(lua_State *L, fb_control *c) {
    lua_Debug ar;
    for (int level = 0; level < 64 && lua_getstack(L, level, &ar); level++) {
        if (!lua_getinfo(L, "Sl", &ar)) continue;
        if (ar.currentline > 0) {
            snprintf(c->where, sizeof c->where, "%s:%d", ar.short_src, ar.currentline);
            return;
        }
    }
}

static int message_handler(lua_State *L) {
    fb_control *c = fb_control_of(L);
    record_where(L, c);
    switch (lua_type(L, 1)) {
        case LUA_TSTRING: {
            size_t len;
            const char *s = lua_tolstring(L, 1, &len);
            if (len >= sizeof c->message) len = sizeof c->message - 1;
            memcpy(c->message, s, len);
            c->message[len] = 0;
            break;
        }
        case LUA_TNUMBER:
            snprintf(c->message, sizeof c->message, "%.14g", lua_tonumber(L, 1));
            break;
        default:
            // Deliberately no __tostring: an error object may loop or raise.
            snprintf(c->message, sizeof c->message, "(error object is a %s value)",
                     lua_typename(L, lua_type(L, 1)));
    }
    return 1;
}

static fb_status classify(fb_sandbox *s, int status, fb_buffer *error) {
    fb_control *c = &s->control;
    fb_status result;
    if (status == LUA_ERRMEM || (c->memory_refused && status != LUA_OK)) result = FB_ERR_MEMORY;
    else if (c->tripped == TRIP_INSTRUCTIONS) result = FB_ERR_INSTRUCTIONS;
    else if (c->tripped == TRIP_TIME) result = FB_ERR_TIME;
    else if (status == LUA_ERRSYNTAX) result = FB_ERR_SYNTAX;
    else if (status == LUA_ERRERR) result = FB_ERR_HANDLER;
    else result = FB_ERR_RUNTIME;

    if (error) {
        char text[FB_MESSAGE_LIMIT + 256];
        const char *msg = c->message;
        if (result == FB_ERR_MEMORY)
            snprintf(text, sizeof text, "memory limit of %zu KiB exceeded", c->limit / 1024);
        else if (result == FB_ERR_HANDLER && !msg[0])
            snprintf(text, sizeof text, "error while handling an error (stack overflow?)");
        else
            snprintf(text, sizeof text, "%s", msg[0] ? msg : "unknown error");
        // Name the line when the message does not already start with it.
        char full[sizeof text + sizeof c->where + 8];
        if (c->where[0] && strncmp(text, c->where, strlen(c->where)) != 0)
            snprintf(full, sizeof full, "%s: %s", c->where, text);
        else
            snprintf(full, sizeof full, "%s", text);
        fb_buffer_set_string(error, full);
    }
    return result;
}

// Runs f(ud) under lua_pcall, with the message handler and within `budget`:
// the one way any entry point below touches Lua.
static int run_protected(fb_sandbox *s, lua_CFunction f, void *ud, fb_budget budget) {
    lua_State *L = s->L;
    lua_settop(L, 0);
    arm(s, budget);
    lua_pushcfunction(L, message_handler);
    lua_pushcfunction(L, f);
    lua_pushlightuserdata(L, ud);
    int status = lua_pcall(L, 1, 0, 1);
    lua_settop(L, 0);
    publish_memory(&s->control);
    return status;
}

// MARK: - state lifecycle

fb_sandbox *fb_open(size_t memory_limit, uint64_t random_seed, fb_buffer *error) {
    fb_sandbox *s = calloc(1, sizeof *s);
    if (!s) { fb_buffer_set_string(error, "out of memory"); return NULL; }
    s->control.limit = memory_limit;
    s->L = lua_newstate(counting_alloc, &s->control);
    if (!s->L) { fb_buffer_set_string(error, "memory limit too small for a Lua state"); free(s); return NULL; }
    fb_budget setup_budget = {10000000ull, 1000000000ull};
    setup_args args = {random_seed};
    int status = run_protected(s, fb_sandbox_setup, &args, setup_budget);
    if (status != LUA_OK) {
        classify(s, status, error);
        fb_close(s);
        return NULL;
    }
    lua_settop(s->L, 0);
    lua_gc(s->L, LUA_GCGEN, 0, 0);   // each call leaves young garbage only
    return s;
}

void fb_close(fb_sandbox *s) {
    if (!s) return;
    if (s->L) {
        // Finalizers run during close; keep them on a short budget.
        fb_budget close_budget = {1000000ull, 100000000ull};
        arm(s, close_budget);
        lua_close(s->L);
        publish_memory(&s->control);   // used is back to 0: takes the state's share out
    }
    fb_buffer_free(&s->control.log);
    free(s);
}

size_t fb_memory_used(const fb_sandbox *s) { return s->control.used; }
size_t fb_memory_peak(const fb_sandbox *s) { return s->control.peak; }
uint64_t fb_last_instructions(const fb_sandbox *s) { return s->control.instructions; }

void fb_take_log(fb_sandbox *s, fb_buffer *into) {
    into->length = 0;
    fb_buffer_append(into, s->control.log.data ? (const char *)s->control.log.data : "", s->control.log.length);
    s->control.log.length = 0;
}

// MARK: - load

typedef struct {
    fb_sandbox *sandbox;
    const char *chunkname, *source;
    size_t length;
    int syntax_error, contract_error;
} load_args;

static int protected_load(lua_State *L) {
    load_args *a = lua_touserdata(L, 1);
    if (a->length > 0 && a->source[0] == LUA_SIGNATURE[0])
        return luaL_error(L, "%s: binary chunks are not allowed; load the script's source text",
                          a->chunkname[0] == '@' ? a->chunkname + 1 : a->chunkname);
    if (luaL_loadbufferx(L, a->source, a->length, a->chunkname, "t") != LUA_OK) {
        a->syntax_error = 1;
        return lua_error(L);
    }
    lua_call(L, 0, 1);
    if (lua_type(L, -1) != LUA_TTABLE) {
        a->contract_error = 1;
        return luaL_error(L, "%s: the script must return a table, got %s",
                          a->chunkname[0] == '@' ? a->chunkname + 1 : a->chunkname,
                          luaL_typename(L, -1));
    }
    lua_rawsetp(L, LUA_REGISTRYINDEX, a->sandbox);   // the module, keyed by its sandbox
    return 0;
}

fb_status fb_load(fb_sandbox *s, const char *chunkname, const char *source, size_t length,
                  fb_budget budget, fb_buffer *error) {
    load_args args = {s, chunkname, source, length, 0, 0};
    int status = run_protected(s, protected_load, &args, budget);
    if (status == LUA_OK) return FB_OK;
    fb_status r = classify(s, args.syntax_error && status == LUA_ERRRUN ? LUA_ERRSYNTAX : status, error);
    if (args.contract_error && r == FB_ERR_RUNTIME) r = FB_ERR_CONTRACT;
    return r;
}

// MARK: - call

// The registry slot of the value a script keeps between calls (site.memory).
static const char persistent_key = 0;

static void push_persistent(lua_State *L) {
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &persistent_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &persistent_key);
    }
}

typedef struct {
    fb_sandbox *sandbox;
    const char *function;
    const uint8_t *args;
    size_t args_length;
    uint32_t nargs;
    const char *persist;
    fb_buffer *results;
    int contract_error;
    const char *encode_error;
} call_args;

static int protected_call(lua_State *L) {
    call_args *a = lua_touserdata(L, 1);
    lua_settop(L, 0);
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, a->sandbox) != LUA_TTABLE) {
        a->contract_error = 1;
        return luaL_error(L, "no script loaded");
    }
    lua_pushstring(L, a->function);
    if (lua_rawget(L, 1) != LUA_TFUNCTION) {
        a->contract_error = 1;
        return luaL_error(L, "the script has no function '%s'", a->function);
    }
    luaL_checkstack(L, (int)a->nargs + 8, "arguments");
    reader r;
    fb_reader_open(&r, a->args, a->args_length);
    for (uint32_t i = 0; i < a->nargs; i++) fb_push_value(L, &r, 0);
    // A driver's `dev`: its methods.
    if (a->nargs > 0 && lua_type(L, 3) == LUA_TTABLE) {
        if (lua_rawgetp(L, LUA_REGISTRYINDEX, &fb_device_meta_key) == LUA_TTABLE) lua_setmetatable(L, 3);
        else lua_pop(L, 1);
    }
    int persist = a->persist && a->nargs > 0 && lua_type(L, 3) == LUA_TTABLE;
    if (persist) {
        // args[1][persist] = the kept value; and a second reference to args[1]
        // below the function, to read it back after the call.
        lua_pushstring(L, a->persist);
        push_persistent(L);
        lua_rawset(L, 3);
        lua_pushvalue(L, 3);
        lua_insert(L, 2);
    }
    int base = lua_gettop(L) - (int)a->nargs - 1;   // index just below the function
    lua_call(L, (int)a->nargs, LUA_MULTRET);
    int nresults = lua_gettop(L) - base;
    if (persist) {
        lua_pushstring(L, a->persist);
        if (lua_rawget(L, 2) != LUA_TTABLE) {
            a->encode_error = "site.memory must stay a table";
            return luaL_error(L, "site.%s must stay a table, got %s", a->persist, luaL_typename(L, -1));
        }
        lua_rawsetp(L, LUA_REGISTRYINDEX, &persistent_key);
    }
    writer w = {a->results, 0, NULL};
    a->results->length = 0;
    fb_put_count(&w, (uint32_t)nresults);
    for (int i = 1; i <= nresults && !w.failed; i++) fb_encode_value(L, base + i, &w, 0);
    if (w.failed) {
        a->encode_error = w.why;
        return luaL_error(L, "%s", w.why);
    }
    return 0;
}

fb_status fb_call(fb_sandbox *s, const char *function, const uint8_t *args, size_t args_length,
                  uint32_t nargs, const char *persist, fb_budget budget,
                  fb_buffer *results, fb_buffer *error) {
    call_args a = {s, function, args, args_length, nargs, persist, results, 0, NULL};
    int status = run_protected(s, protected_call, &a, budget);
    if (status == LUA_OK) return FB_OK;
    fb_status r = classify(s, status, error);
    if (a.contract_error && r == FB_ERR_RUNTIME) r = FB_ERR_CONTRACT;
    if (a.encode_error && r == FB_ERR_RUNTIME) r = FB_ERR_RESULT;
    if (r == FB_ERR_MEMORY) {
        lua_gc(s->L, LUA_GCCOLLECT);   // give the next call its ceiling back
        publish_memory(&s->control);
    }
    return r;
}

typedef struct {
    const uint8_t *tape;
    size_t length;
    fb_buffer *out;
    const char *encode_error;
} persistent_args;

static int protected_get_persistent(lua_State *L) {
    persistent_args *a = lua_touserdata(L, 1);
    push_persistent(L);
    writer w = {a->out, 0, NULL};
    a->out->length = 0;
    fb_encode_value(L, -1, &w, 0);
    if (w.failed) { a->encode_error = w.why; return luaL_error(L, "%s", w.why); }
    return 0;
}

static int protected_set_persistent(lua_State *L) {
    persistent_args *a = lua_touserdata(L, 1);
    reader r;
    fb_reader_open(&r, a->tape, a->length);
    fb_push_value(L, &r, 0);
    if (lua_type(L, -1) != LUA_TTABLE) return luaL_error(L, "the kept value must be a table");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &persistent_key);
    return 0;
}

static fb_status run_persistent(fb_sandbox *s, lua_CFunction f, persistent_args *a, fb_buffer *error) {
    fb_budget budget = {1000000ull, 100000000ull};
    int status = run_protected(s, f, a, budget);
    if (status == LUA_OK) return FB_OK;
    fb_status r = classify(s, status, error);
    if (a->encode_error && r == FB_ERR_RUNTIME) r = FB_ERR_RESULT;
    return r;
}

fb_status fb_persistent_get(fb_sandbox *s, fb_buffer *out, fb_buffer *error) {
    persistent_args a = {NULL, 0, out, NULL};
    return run_persistent(s, protected_get_persistent, &a, error);
}

fb_status fb_persistent_set(fb_sandbox *s, const uint8_t *tape, size_t length, fb_buffer *error) {
    persistent_args a = {tape, length, NULL, NULL};
    return run_persistent(s, protected_set_persistent, &a, error);
}

typedef struct {
    fb_sandbox *sandbox;
    const char *name;
    fb_buffer *result;
    const char *encode_error;
} field_args;

static int protected_field(lua_State *L) {
    field_args *a = lua_touserdata(L, 1);
    lua_settop(L, 0);
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, a->sandbox) != LUA_TTABLE) return luaL_error(L, "no script loaded");
    lua_pushstring(L, a->name);
    lua_rawget(L, 1);
    writer w = {a->result, 0, NULL};
    a->result->length = 0;
    fb_encode_value(L, -1, &w, 0);
    if (w.failed) { a->encode_error = w.why; return luaL_error(L, "%s", w.why); }
    return 0;
}

fb_status fb_module_field(fb_sandbox *s, const char *name, fb_buffer *result, fb_buffer *error) {
    fb_budget budget = {1000000ull, 100000000ull};
    field_args a = {s, name, result, NULL};
    int status = run_protected(s, protected_field, &a, budget);
    if (status == LUA_OK) return FB_OK;
    fb_status r = classify(s, status, error);
    if (a.encode_error && r == FB_ERR_RUNTIME) r = FB_ERR_RESULT;
    return r;
}

fb_status fb_set_device_io(fb_sandbox *s, fb_io_function io, void *context, fb_buffer *error) {
    s->io = io;
    s->io_context = context;
    fb_budget budget = {1000000ull, 100000000ull};
    int status = run_protected(s, fb_device_meta_setup, s, budget);
    return status == LUA_OK ? FB_OK : classify(s, status, error);
}

void fb_set_device_http(fb_sandbox *s, fb_http_function http) { s->http = http; }
