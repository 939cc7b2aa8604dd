// The sandbox and the bridge. See CLuaShim.h for why this is C.

#include "CLuaShim.h"

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
};

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

static int buffer_append(fb_buffer *b, const void *bytes, size_t n) {
    if (!buffer_reserve(b, n)) return 0;
    memcpy(b->data + b->length, bytes, n);
    b->length += n;
    return 1;
}

static void buffer_set_string(fb_buffer *b, const char *s) {
    if (!b) return;
    b->length = 0;
    buffer_append(b, s, strlen(s));
}

// MARK: - allocator, clock, hook

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
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

static fb_control *control_of(lua_State *L) {
    void *ud = NULL;
    lua_getallocf(L, &ud);
    return ud;
}

static void budget_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    fb_control *c = control_of(L);
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

// MARK: - sandboxed library replacements

// `load` for text chunks only; the optional env is honoured, binary is refused.
static int safe_load(lua_State *L) {
    size_t len;
    const char *chunk = lua_tolstring(L, 1, &len);
    if (!chunk || lua_type(L, 1) != LUA_TSTRING) {
        luaL_pushfail(L);
        lua_pushliteral(L, "load: only string chunks are allowed in the sandbox");
        return 2;
    }
    const char *name = luaL_optstring(L, 2, "=(load)");
    int has_env = !lua_isnone(L, 4);
    int status = luaL_loadbufferx(L, chunk, len, name, "t");
    if (status != LUA_OK) {
        luaL_pushfail(L);
        lua_insert(L, -2);
        return 2;
    }
    if (has_env) {
        lua_pushvalue(L, 4);
        if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
    }
    return 1;
}

static int safe_collectgarbage(lua_State *L) {
    const char *opt = luaL_optstring(L, 1, "collect");
    if (strcmp(opt, "count") != 0)
        return luaL_error(L, "collectgarbage(\"%s\") is not allowed in the sandbox; only \"count\"", opt);
    int kb = lua_gc(L, LUA_GCCOUNT, 0);
    int b = lua_gc(L, LUA_GCCOUNTB, 0);
    lua_pushnumber(L, (lua_Number)kb + ((lua_Number)b / 1024));
    return 1;
}

// print/log go to a bounded buffer the host drains; never to stdout.
static int sandbox_print(lua_State *L) {
    fb_control *c = control_of(L);
    int n = lua_gettop(L);
    for (int i = 1; i <= n; i++) {
        size_t len = 0;
        const char *s;
        char tmp[64];
        switch (lua_type(L, i)) {
            case LUA_TSTRING: s = lua_tolstring(L, i, &len); break;
            case LUA_TNUMBER:
                if (lua_isinteger(L, i)) snprintf(tmp, sizeof tmp, "%lld", (long long)lua_tointeger(L, i));
                else snprintf(tmp, sizeof tmp, "%.14g", lua_tonumber(L, i));
                s = tmp; len = strlen(tmp); break;
            case LUA_TBOOLEAN: s = lua_toboolean(L, i) ? "true" : "false"; len = strlen(s); break;
            case LUA_TNIL: s = "nil"; len = 3; break;
            default: s = lua_typename(L, lua_type(L, i)); len = strlen(s); break;
        }
        if (c->log.length + len + 2 > FB_LOG_LIMIT) return 0;
        if (i > 1) buffer_append(&c->log, "\t", 1);
        buffer_append(&c->log, s, len);
    }
    if (c->log.length + 1 <= FB_LOG_LIMIT) buffer_append(&c->log, "\n", 1);
    return 0;
}

static void arm_thread(lua_State *L, lua_State *co) {
    fb_control *c = control_of(L);
    lua_sethook(co, budget_hook, LUA_MASKCOUNT, c->tripped ? 1 : FB_HOOK_STEP);
}

// Re-arms the hook on the coroutine before every resume. Lua 5.4 threads also
// inherit the hook of the thread that created them; this covers threads that
// were created before a budget tripped and so still fire every 1000 steps.
static int safe_resume(lua_State *L) {
    lua_State *co = lua_tothread(L, 1);
    if (co) arm_thread(L, co);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

// Lua 5.4 runs finalizers with hooks off (lgc.c, GCTM), so no budget could stop
// a looping __gc: scripts may not set one. Lua only honours a __gc present when
// setmetatable is called, so checking here is enough.
static int safe_setmetatable(lua_State *L) {
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        int has_gc = lua_rawget(L, 2) != LUA_TNIL;
        lua_pop(L, 1);
        if (has_gc) return luaL_error(L, "__gc metamethods are not allowed in the sandbox");
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

// xpcall whose handler runs after the protected call has returned. Lua calls a
// message handler at the point of the error; for an error raised by the budget
// hook that point is inside the hook, where Lua has switched hooks off, so a
// looping handler could never be stopped. Here the handler runs as an ordinary
// call, under the budget. (The handler sees the error value but no longer the
// stack where it happened; scripts have no debug library anyway.)
static int safe_xpcall(lua_State *L) {
    int n = lua_gettop(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    luaL_checkstack(L, n + 2, "xpcall");
    lua_pushvalue(L, 1);
    for (int i = 3; i <= n; i++) lua_pushvalue(L, i);
    int base = n;
    if (lua_pcall(L, n - 2, LUA_MULTRET, 0) == LUA_OK) {
        lua_pushboolean(L, 1);
        lua_insert(L, base + 1);
        return lua_gettop(L) - base;
    }
    lua_pushvalue(L, 2);
    lua_insert(L, -2);
    lua_pcall(L, 1, 1, 0);   // an error in the handler becomes the result, as in Lua
    lua_pushboolean(L, 0);
    lua_insert(L, -2);
    return 2;
}

static void arm_thread(lua_State *L, lua_State *co);

// coroutine.wrap without closing the coroutine on error: lua_closethread would
// run its pending __close handlers with hooks off when the error came from the
// budget hook (the thread keeps allowhook = 0), out of the budget's reach.
static int wrap_resume(lua_State *L) {
    lua_State *co = lua_tothread(L, lua_upvalueindex(1));
    int narg = lua_gettop(L);
    if (lua_status(co) == LUA_OK && lua_gettop(co) == 0)
        return luaL_error(L, "cannot resume dead coroutine");
    if (lua_status(co) != LUA_OK && lua_status(co) != LUA_YIELD)
        return luaL_error(L, "cannot resume dead coroutine");
    if (!lua_checkstack(co, narg)) return luaL_error(L, "too many arguments to resume");
    lua_xmove(L, co, narg);
    arm_thread(L, co);
    int nres = 0;
    int status = lua_resume(co, L, narg, &nres);
    if (status == LUA_OK || status == LUA_YIELD) {
        if (!lua_checkstack(L, nres + 1)) return luaL_error(L, "too many results to resume");
        lua_xmove(co, L, nres);
        return nres;
    }
    lua_xmove(co, L, 1);
    if (lua_type(L, -1) == LUA_TSTRING) {
        luaL_where(L, 1);
        lua_insert(L, -2);
        lua_concat(L, 2);
    }
    return lua_error(L);
}

static int safe_wrap(lua_State *L) {
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_State *co = lua_newthread(L);
    lua_pushvalue(L, 1);
    lua_xmove(L, co, 1);
    lua_pushcclosure(L, wrap_resume, 1);
    return 1;
}

static void remove_field(lua_State *L, int table, const char *name) {
    lua_pushnil(L);
    lua_setfield(L, table, name);
}

typedef struct { uint64_t seed; } setup_args;

static int native_fill(lua_State *L);
static int native_fits(lua_State *L);

static int sandbox_setup(lua_State *L) {
    setup_args *args = lua_touserdata(L, 1);
    static const luaL_Reg libs[] = {
        {LUA_GNAME, luaopen_base},        {LUA_STRLIBNAME, luaopen_string},
        {LUA_TABLIBNAME, luaopen_table},  {LUA_MATHLIBNAME, luaopen_math},
        {LUA_UTF8LIBNAME, luaopen_utf8},  {LUA_COLIBNAME, luaopen_coroutine},
        {NULL, NULL}};
    for (const luaL_Reg *lib = libs; lib->func; lib++) {
        luaL_requiref(L, lib->name, lib->func, 1);
        lua_pop(L, 1);
    }
    lua_pushglobaltable(L);
    int g = lua_gettop(L);
    remove_field(L, g, "dofile");
    remove_field(L, g, "loadfile");
    remove_field(L, g, "warn");
    remove_field(L, g, "require");
    lua_pushcfunction(L, safe_load);
    lua_setfield(L, g, "load");
    lua_pushcfunction(L, safe_collectgarbage);
    lua_setfield(L, g, "collectgarbage");
    lua_pushcfunction(L, safe_xpcall);
    lua_setfield(L, g, "xpcall");
    lua_getfield(L, g, "setmetatable");
    lua_pushcclosure(L, safe_setmetatable, 1);
    lua_setfield(L, g, "setmetatable");
    lua_pushcfunction(L, sandbox_print);
    lua_setfield(L, g, "print");
    lua_pushcfunction(L, sandbox_print);
    lua_setfield(L, g, "log");

    // The host's primitives; the prelude adds the rest of `fusebox` in Lua.
    lua_createtable(L, 0, 8);
    lua_pushcfunction(L, native_fill);
    lua_setfield(L, -2, "fill");
    lua_pushcfunction(L, native_fits);
    lua_setfield(L, -2, "fits");
    lua_setfield(L, g, "fusebox");

    lua_getfield(L, g, "string");
    remove_field(L, lua_gettop(L), "dump");
    lua_pop(L, 1);

    // Seed math.random from the host, then take randomseed away.
    lua_getfield(L, g, "math");
    int m = lua_gettop(L);
    lua_getfield(L, m, "randomseed");
    lua_pushinteger(L, (lua_Integer)(args->seed & 0x7fffffffffffffffull));
    lua_call(L, 1, 0);
    remove_field(L, m, "randomseed");
    lua_pop(L, 1);

    lua_getfield(L, g, "coroutine");
    int co = lua_gettop(L);
    lua_getfield(L, co, "resume");
    lua_pushcclosure(L, safe_resume, 1);
    lua_setfield(L, co, "resume");
    lua_pushcfunction(L, safe_wrap);
    lua_setfield(L, co, "wrap");
    remove_field(L, co, "close");
    lua_pop(L, 1);

    // The string metatable is per state, but a script must not change it for
    // the host's own code that runs in the same state (the prelude).
    lua_pushliteral(L, "");
    if (lua_getmetatable(L, -1)) {
        lua_pushliteral(L, "protected");
        lua_setfield(L, -2, "__metatable");
        lua_pop(L, 1);
    }
    lua_pop(L, 2);
    return 0;
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
    fb_control *c = control_of(L);
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
        buffer_set_string(error, full);
    }
    return result;
}

// MARK: - tape decoding (Swift -> Lua), runs under lua_pcall

typedef struct {
    const uint8_t *p, *end;
} reader;

static int read_bytes(reader *r, void *out, size_t n) {
    if ((size_t)(r->end - r->p) < n) return 0;
    memcpy(out, r->p, n);
    r->p += n;
    return 1;
}

static void push_value(lua_State *L, reader *r, int depth);

static void push_table(lua_State *L, reader *r, int depth) {
    uint32_t narr = 0, nrec = 0;
    if (!read_bytes(r, &narr, 4) || !read_bytes(r, &nrec, 4)) luaL_error(L, "tape: truncated table");
    if (depth > FB_MAX_DEPTH) luaL_error(L, "tape: nested too deep");
    luaL_checkstack(L, 4, "tape");
    lua_createtable(L, (int)(narr > 1u << 20 ? 0 : narr), (int)(nrec > 1u << 20 ? 0 : nrec));
    for (;;) {
        if (r->p >= r->end) luaL_error(L, "tape: unterminated table");
        if (*r->p == FB_TAPE_END) { r->p++; return; }
        push_value(L, r, depth + 1);  // key
        push_value(L, r, depth + 1);  // value
        if (lua_isnil(L, -2)) { lua_pop(L, 2); continue; }
        lua_rawset(L, -3);
    }
}

static const char cache_key = 0;

static void push_cache(lua_State *L, int reset) {
    if (reset || lua_rawgetp(L, LUA_REGISTRYINDEX, &cache_key) != LUA_TTABLE) {
        if (!reset) lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &cache_key);
    }
}

static uint32_t read_slot(lua_State *L, reader *r) {
    uint32_t slot;
    if (!read_bytes(r, &slot, 4)) luaL_error(L, "tape: truncated slot");
    return slot;
}

// Writes the fields of the tape table at r into the table on top of the stack.
// Returns 0 (and leaves a partly written table) when the result would not be
// exactly those fields: the script added or shadowed one, or a field the tape
// no longer has is still there. The caller then makes a fresh table.
static int update_table(lua_State *L, reader *r, int depth) {
    uint8_t tag;
    uint32_t narr, nrec;
    if (!read_bytes(r, &tag, 1) || tag != FB_TAPE_TABLE) return 0;
    if (!read_bytes(r, &narr, 4) || !read_bytes(r, &nrec, 4)) luaL_error(L, "tape: truncated table");
    if (depth > FB_MAX_DEPTH) luaL_error(L, "tape: nested too deep");
    luaL_checkstack(L, 4, "tape");
    int table = lua_gettop(L);
    int written = 0;
    for (;;) {
        if (r->p >= r->end) luaL_error(L, "tape: unterminated table");
        if (*r->p == FB_TAPE_END) { r->p++; break; }
        push_value(L, r, depth + 1);
        push_value(L, r, depth + 1);
        if (lua_isnil(L, -2)) { lua_pop(L, 2); continue; }
        if (!lua_isnil(L, -1)) written++;
        lua_rawset(L, table);
    }
    int count = 0;
    lua_pushnil(L);
    while (lua_next(L, table)) { count++; lua_pop(L, 1); }
    return count == written;
}

static void push_value(lua_State *L, reader *r, int depth) {
    uint8_t tag;
    if (!read_bytes(r, &tag, 1)) luaL_error(L, "tape: truncated");
    switch (tag) {
        case FB_TAPE_NIL: lua_pushnil(L); break;
        case FB_TAPE_TRUE: lua_pushboolean(L, 1); break;
        case FB_TAPE_FALSE: lua_pushboolean(L, 0); break;
        case FB_TAPE_NUMBER: { double d; if (!read_bytes(r, &d, 8)) luaL_error(L, "tape: truncated"); lua_pushnumber(L, d); break; }
        case FB_TAPE_INTEGER: { int64_t i; if (!read_bytes(r, &i, 8)) luaL_error(L, "tape: truncated"); lua_pushinteger(L, (lua_Integer)i); break; }
        case FB_TAPE_STRING: {
            uint32_t n;
            if (!read_bytes(r, &n, 4) || (size_t)(r->end - r->p) < n) luaL_error(L, "tape: truncated string");
            lua_pushlstring(L, (const char *)r->p, n);
            r->p += n;
            break;
        }
        case FB_TAPE_TABLE: push_table(L, r, depth); break;
        case FB_TAPE_RESET:
            push_cache(L, 1);
            lua_pop(L, 1);
            push_value(L, r, depth);
            break;
        case FB_TAPE_DEFINE: {
            uint32_t slot = read_slot(L, r);
            luaL_checkstack(L, 3, "tape");
            push_cache(L, 0);
            push_value(L, r, depth + 1);
            lua_rawseti(L, -2, (lua_Integer)slot);
            lua_pop(L, 1);
            push_value(L, r, depth);
            break;
        }
        case FB_TAPE_REF: {
            uint32_t slot = read_slot(L, r);
            luaL_checkstack(L, 2, "tape");
            push_cache(L, 0);
            lua_rawgeti(L, -1, (lua_Integer)slot);
            lua_remove(L, -2);
            break;
        }
        case FB_TAPE_UPDATE: {
            uint32_t slot = read_slot(L, r), meta = read_slot(L, r);
            luaL_checkstack(L, 6, "tape");
            push_cache(L, 0);
            int cache = lua_gettop(L);
            const uint8_t *start = r->p;
            if (lua_rawgeti(L, cache, (lua_Integer)slot) == LUA_TTABLE) {
                // Reuse only if the script left its metatable alone.
                int same_meta;
                if (lua_getmetatable(L, -1)) {
                    if (meta) {
                        lua_rawgeti(L, cache, (lua_Integer)meta);
                        same_meta = lua_rawequal(L, -1, -2);
                        lua_pop(L, 2);
                    } else {
                        same_meta = 0;
                        lua_pop(L, 1);
                    }
                } else {
                    same_meta = meta == 0;
                }
                if (same_meta && update_table(L, r, depth)) {
                    lua_remove(L, cache);
                    break;
                }
            }
            lua_settop(L, cache);
            r->p = start;
            push_value(L, r, depth);
            if (meta && lua_istable(L, -1)) {
                if (lua_rawgeti(L, cache, (lua_Integer)meta) == LUA_TTABLE) lua_setmetatable(L, -2);
                else lua_pop(L, 1);
            }
            lua_pushvalue(L, -1);
            lua_rawseti(L, cache, (lua_Integer)slot);
            lua_remove(L, cache);
            break;
        }
        case FB_TAPE_WITH_META: {
            uint32_t slot = read_slot(L, r);
            push_value(L, r, depth);
            luaL_checkstack(L, 2, "tape");
            push_cache(L, 0);
            if (lua_type(L, -2) == LUA_TTABLE && lua_rawgeti(L, -1, (lua_Integer)slot) == LUA_TTABLE) {
                lua_setmetatable(L, -3);
            } else {
                lua_pop(L, 1);
            }
            lua_pop(L, 1);
            break;
        }
        default: luaL_error(L, "tape: unknown tag %d", (int)tag);
    }
}

// MARK: - tape encoding (Lua -> Swift); raw access only, no metamethods

typedef struct {
    fb_buffer *out;
    int failed;
    const char *why;
} writer;

static void put(writer *w, const void *bytes, size_t n) {
    if (w->failed) return;
    if (w->out->length + n > FB_MAX_RESULT_BYTES) { w->failed = 1; w->why = "result larger than 4 MiB"; return; }
    if (!buffer_append(w->out, bytes, n)) { w->failed = 1; w->why = "out of memory encoding the result"; }
}

static void put_tag(writer *w, uint8_t tag) { put(w, &tag, 1); }

static void encode_value(lua_State *L, int idx, writer *w, int depth) {
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
        case LUA_TNIL: put_tag(w, FB_TAPE_NIL); break;
        case LUA_TBOOLEAN: put_tag(w, lua_toboolean(L, idx) ? FB_TAPE_TRUE : FB_TAPE_FALSE); break;
        case LUA_TNUMBER:
            if (lua_isinteger(L, idx)) { int64_t i = (int64_t)lua_tointeger(L, idx); put_tag(w, FB_TAPE_INTEGER); put(w, &i, 8); }
            else { double d = (double)lua_tonumber(L, idx); put_tag(w, FB_TAPE_NUMBER); put(w, &d, 8); }
            break;
        case LUA_TSTRING: {
            size_t len;
            const char *s = lua_tolstring(L, idx, &len);
            uint32_t n = (uint32_t)len;
            put_tag(w, FB_TAPE_STRING); put(w, &n, 4); put(w, s, len);
            break;
        }
        case LUA_TTABLE: {
            if (depth > FB_MAX_DEPTH) { w->failed = 1; w->why = "result nested deeper than 48 tables (a cycle?)"; return; }
            if (!lua_checkstack(L, 3)) { w->failed = 1; w->why = "result too deep for the stack"; return; }
            uint32_t zero = 0;
            put_tag(w, FB_TAPE_TABLE); put(w, &zero, 4); put(w, &zero, 4);
            lua_pushnil(L);
            while (!w->failed && lua_next(L, idx)) {
                encode_value(L, -2, w, depth + 1);
                encode_value(L, -1, w, depth + 1);
                lua_pop(L, 1);
            }
            if (w->failed) return;   // the stack is reset by the caller
            put_tag(w, FB_TAPE_END);
            break;
        }
        default: {
            const char *name = lua_typename(L, lua_type(L, idx));
            uint32_t n = (uint32_t)strlen(name);
            put_tag(w, FB_TAPE_OPAQUE); put(w, &n, 4); put(w, name, n);
        }
    }
}


// MARK: - fusebox.fill and fusebox.fits, native

// Equal sharing under the site's linear limits, for policies: the same algorithm
// as FuseboxCore's WaterFill (see there and docs/policies.md). It reads the Lua
// tables it is given (fields through metatables, as policies see them) and
// keeps its scratch arrays in a userdata, so the memory ceiling covers them and
// an error in the middle leaves nothing behind.

typedef struct { double value; int index; } keyed;

static int compare_keyed(const void *a, const void *b) {
    const keyed *x = a, *y = b;
    if (x->value < y->value) return -1;
    if (x->value > y->value) return 1;
    return x->index - y->index;
}

static double number_field(lua_State *L, int table, const char *key, double fallback) {
    lua_getfield(L, table, key);
    int ok = 0;
    double v = lua_tonumberx(L, -1, &ok);
    lua_pop(L, 1);
    return ok ? v : fallback;
}

typedef struct {
    int n, nk, nnz;
    double *available, *used, *slope, *lower, *upper, *alloc, *extra, *limit_weight, *touch_w;
    int *limit_start, *limit_member, *start, *touch_k, *touch_of, *admitted, *flags;
    unsigned char *watts;
    keyed *joins, *leaves;
    int admitted_count;
} fill_state;

enum { FLAG_ADMITTED = 1, FLAG_RISING = 2, FLAG_FROZEN = 4, FLAG_IN_ORDER = 8 };

// What fill reads from a site that only changes with site.structure: limit
// membership, fixed weights, chargers' minimums. Kept in one userdata in the
// registry and reused while site.structure and the counts stay the same.
typedef struct {
    lua_Integer structure;
    int n, nk, nnz;
} fill_static_header;

static const char fill_cache_key = 0;

static char *carve(char **p, size_t bytes) {
    char *at = *p;
    *p += (bytes + 7) & ~(size_t)7;
    return at;
}

// Points f's static arrays into a block laid out after `header`.
static void fill_static_layout(fill_state *f, fill_static_header *header) {
    char *p = (char *)header + ((sizeof *header + 7) & ~(size_t)7);
    int n = header->n, nk = header->nk, nnz = header->nnz;
    f->limit_start = (int *)carve(&p, (size_t)(nk + 1) * sizeof(int));
    f->limit_member = (int *)carve(&p, (size_t)nnz * sizeof(int));
    f->limit_weight = (double *)carve(&p, (size_t)nnz * sizeof(double));
    f->start = (int *)carve(&p, (size_t)(n + 1) * sizeof(int));
    f->touch_k = (int *)carve(&p, (size_t)nnz * sizeof(int));
    f->touch_w = (double *)carve(&p, (size_t)nnz * sizeof(double));
    f->touch_of = (int *)carve(&p, (size_t)nnz * sizeof(int));
    f->lower = (double *)carve(&p, (size_t)n * sizeof(double));
    f->watts = (unsigned char *)carve(&p, (size_t)nk);
}

static size_t fill_static_size(int n, int nk, int nnz) {
    size_t s = (sizeof(fill_static_header) + 7) & ~(size_t)7;
    s += (((size_t)(nk + 1) * sizeof(int)) + 7) & ~(size_t)7;
    s += (((size_t)nnz * sizeof(int)) + 7) & ~(size_t)7;
    s += (((size_t)nnz * sizeof(double)) + 7) & ~(size_t)7;
    s += (((size_t)(n + 1) * sizeof(int)) + 7) & ~(size_t)7;
    s += (((size_t)nnz * sizeof(int)) + 7) & ~(size_t)7;
    s += (((size_t)nnz * sizeof(double)) + 7) & ~(size_t)7;
    s += (((size_t)nnz * sizeof(int)) + 7) & ~(size_t)7;
    s += (((size_t)n * sizeof(double)) + 7) & ~(size_t)7;
    s += ((size_t)nk + 7) & ~(size_t)7;
    return s;
}

// Reads one limit's weights (or 1 when it has none) into the static arrays.
static void fill_read_weights(lua_State *L, int limit, int k, fill_state *f) {
    lua_getfield(L, limit, "weights");
    int weights = lua_gettop(L);
    int has = lua_istable(L, weights);
    for (int t = f->limit_start[k]; t < f->limit_start[k + 1]; t++) {
        double w = 1;
        if (has) {
            lua_rawgeti(L, weights, t - f->limit_start[k] + 1);
            w = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : 1;
            lua_pop(L, 1);
        }
        f->limit_weight[t] = w;
        f->touch_w[f->touch_of[t]] = w;
    }
    lua_pop(L, 1);
}

// Reads site.chargers and site.limits: the static part from the cache when it
// still fits, else anew (and cached); the rest every call. Leaves on the stack,
// above the arguments: the static block, the scratch block, site.chargers.
static void fill_read(lua_State *L, int site, fill_state *f) {
    int base = lua_gettop(L);
    luaL_checkstack(L, 12, "fusebox.fill");
    lua_getfield(L, site, "structure");
    int has_structure = lua_isinteger(L, -1);
    lua_Integer structure = has_structure ? lua_tointeger(L, -1) : 0;
    lua_pop(L, 1);
    lua_Integer site_limits = (lua_getfield(L, site, "structure_limits"), lua_isinteger(L, -1) ? lua_tointeger(L, -1) : -1);
    lua_pop(L, 1);
    lua_getfield(L, site, "chargers");
    if (!lua_istable(L, -1)) luaL_error(L, "fusebox.fill: site.chargers must be a table");
    int chargers = lua_gettop(L);
    lua_getfield(L, site, "limits");
    if (!lua_istable(L, -1)) luaL_error(L, "fusebox.fill: site.limits must be a table");
    int limits = lua_gettop(L);
    int n = (int)lua_rawlen(L, chargers), nk = (int)lua_rawlen(L, limits);

    fill_static_header *header = NULL;
    if (has_structure && site_limits == nk && lua_rawgetp(L, LUA_REGISTRYINDEX, &fill_cache_key) == LUA_TUSERDATA) {
        fill_static_header *cached = lua_touserdata(L, -1);
        if (cached->structure == structure && cached->n == n && cached->nk == nk) header = cached;
    }
    if (!header) {
        lua_settop(L, limits);
        int nnz = 0;
        for (int k = 1; k <= nk; k++) {
            lua_rawgeti(L, limits, k);
            if (!lua_istable(L, -1)) luaL_error(L, "fusebox.fill: site.limits[%d] is not a table", k);
            lua_getfield(L, -1, "members");
            if (!lua_istable(L, -1)) luaL_error(L, "fusebox.fill: site.limits[%d].members is not a table", k);
            nnz += (int)lua_rawlen(L, -1);
            lua_pop(L, 2);
        }
        size_t bytes = fill_static_size(n, nk, nnz);
        header = lua_newuserdatauv(L, bytes, 0);   // freed by the collector
        memset(header, 0, bytes);
        header->structure = has_structure ? structure : -1;
        header->n = n; header->nk = nk; header->nnz = nnz;
        fill_static_layout(f, header);
        int at = 0;
        for (int k = 0; k < nk; k++) {
            lua_rawgeti(L, limits, k + 1);
            int limit = lua_gettop(L);
            lua_getfield(L, limit, "unit");
            const char *unit = lua_tostring(L, -1);
            f->watts[k] = unit && strcmp(unit, "W") == 0;
            lua_pop(L, 1);
            lua_getfield(L, limit, "members");
            int members = lua_gettop(L);
            int count = (int)lua_rawlen(L, members);
            f->limit_start[k] = at;
            for (int j = 1; j <= count; j++) {
                lua_rawgeti(L, members, j);
                int ok = 0;
                lua_Integer i = lua_tointegerx(L, -1, &ok);
                lua_pop(L, 1);
                if (!ok || i < 1 || i > n)
                    luaL_error(L, "fusebox.fill: site.limits[%d].members[%d] is not a charger index", k + 1, j);
                f->limit_member[at] = (int)i - 1;
                f->start[i] += 1;   // counts, turned into offsets below
                at++;
            }
            lua_settop(L, limit - 1);
        }
        f->limit_start[nk] = at;
        for (int i = 0; i < n; i++) f->start[i + 1] += f->start[i];
        // Charger-major copy of the membership: where each limit entry lands.
        int *cursor = lua_newuserdatauv(L, (size_t)(n + 1) * sizeof(int), 0);
        for (int i = 0; i < n; i++) cursor[i] = f->start[i];
        for (int k = 0; k < nk; k++) {
            for (int t = f->limit_start[k]; t < f->limit_start[k + 1]; t++) {
                int i = f->limit_member[t];
                f->touch_k[cursor[i]] = k;
                f->touch_of[t] = cursor[i];
                cursor[i]++;
            }
        }
        lua_pop(L, 1);
        for (int k = 0; k < nk; k++) {
            lua_rawgeti(L, limits, k + 1);
            fill_read_weights(L, lua_gettop(L), k, f);
            lua_pop(L, 1);
        }
        for (int i = 0; i < n; i++) {
            lua_rawgeti(L, chargers, i + 1);
            f->lower[i] = lua_istable(L, -1) ? number_field(L, lua_gettop(L), "min", 6) : 6;
            lua_pop(L, 1);
        }
        if (has_structure && site_limits == nk) {
            lua_pushvalue(L, -1);
            lua_rawsetp(L, LUA_REGISTRYINDEX, &fill_cache_key);
        }
    } else {
        fill_static_layout(f, header);
        // Weights in watts follow the voltage: read them every call.
        for (int k = 0; k < nk; k++) {
            if (!f->watts[k]) continue;
            lua_rawgeti(L, limits, k + 1);
            fill_read_weights(L, lua_gettop(L), k, f);
            lua_pop(L, 1);
        }
    }
    f->n = n; f->nk = nk; f->nnz = header->nnz;
    int static_block = lua_gettop(L);   // keeps the static block alive during the call

    size_t bytes = 0;
    bytes += (size_t)nk * 3 * sizeof(double) + (size_t)n * 3 * sizeof(double);
    bytes += (size_t)n * 2 * sizeof(int) + (size_t)n * 2 * sizeof(keyed) + 64;
    char *p = lua_newuserdatauv(L, bytes, 0);
    memset(p, 0, bytes);
    f->available = (double *)carve(&p, (size_t)nk * sizeof(double));
    f->used = (double *)carve(&p, (size_t)nk * sizeof(double));
    f->slope = (double *)carve(&p, (size_t)nk * sizeof(double));
    f->upper = (double *)carve(&p, (size_t)n * sizeof(double));
    f->alloc = (double *)carve(&p, (size_t)n * sizeof(double));
    f->extra = (double *)carve(&p, (size_t)n * sizeof(double));
    f->admitted = (int *)carve(&p, (size_t)n * sizeof(int));
    f->flags = (int *)carve(&p, (size_t)n * sizeof(int));
    f->joins = (keyed *)carve(&p, (size_t)n * sizeof(keyed));
    f->leaves = (keyed *)carve(&p, (size_t)n * sizeof(keyed));
    int scratch = lua_gettop(L);

    for (int k = 0; k < nk; k++) {
        lua_rawgeti(L, limits, k + 1);
        f->available[k] = lua_istable(L, -1) ? number_field(L, lua_gettop(L), "available", 0) : 0;
        lua_pop(L, 1);
    }
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, chargers, i + 1);
        f->upper[i] = lua_istable(L, -1) ? number_field(L, lua_gettop(L), "max", 0) : 0;
        lua_pop(L, 1);
    }
    // Leave exactly: static block, scratch block, site.chargers.
    lua_pushvalue(L, static_block);
    lua_pushvalue(L, scratch);
    lua_pushvalue(L, chargers);
    lua_rotate(L, base + 1, 3);
    lua_settop(L, base + 3);
}

// opts[name] = { [index] = amps } into `into` (or as a cap on `upper`).
static void fill_read_map(lua_State *L, int opts, const char *name, fill_state *f, double *into, int cap) {
    if (!lua_istable(L, opts)) return;
    lua_getfield(L, opts, name);
    if (lua_istable(L, -1)) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            int ok = 0;
            lua_Integer i = lua_isinteger(L, -2) ? lua_tointeger(L, -2) : 0;
            double v = lua_tonumberx(L, -1, &ok);
            if (ok && i >= 1 && i <= f->n) {
                if (cap) { if (v < f->upper[i - 1]) f->upper[i - 1] = v; }
                else into[i - 1] = v;
            }
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
}

static void touch_used(fill_state *f, int i, double amps) {
    for (int t = f->start[i]; t < f->start[i + 1]; t++) f->used[f->touch_k[t]] += f->touch_w[t] * amps;
}

static int fill_admit(lua_State *L, int order, fill_state *f, int *all_fit) {
    const double eps = 1e-9;
    int count = (int)lua_rawlen(L, order);
    *all_fit = 1;
    f->admitted_count = 0;
    for (int j = 1; j <= count; j++) {
        lua_rawgeti(L, order, j);
        int ok = 0;
        lua_Integer one = lua_tointegerx(L, -1, &ok);
        lua_pop(L, 1);
        if (!ok || one < 1 || one > f->n) return luaL_error(L, "fusebox.fill: order[%d] is not a charger index", j);
        int i = (int)one - 1;
        if (f->flags[i] & FLAG_IN_ORDER) continue;
        f->flags[i] |= FLAG_IN_ORDER;
        double lo = f->lower[i], hi = f->upper[i];
        int fits = hi > 0 && hi >= lo;
        for (int t = f->start[i]; fits && t < f->start[i + 1]; t++) {
            int k = f->touch_k[t];
            if (f->used[k] + f->touch_w[t] * (lo + f->extra[i]) > f->available[k] + eps) fits = 0;
        }
        if (!fits) { *all_fit = 0; continue; }
        touch_used(f, i, lo);
        f->alloc[i] = lo;
        f->flags[i] |= FLAG_ADMITTED;
        f->admitted[f->admitted_count++] = i;
    }
    return 0;
}

static void fill_rise(fill_state *f) {
    const double eps = 1e-9;
    int m = f->admitted_count;
    if (m == 0) return;
    for (int x = 0; x < m; x++) {
        int i = f->admitted[x];
        f->joins[x].value = f->lower[i]; f->joins[x].index = i;
        f->leaves[x].value = f->upper[i]; f->leaves[x].index = i;
    }
    qsort(f->joins, (size_t)m, sizeof(keyed), compare_keyed);
    qsort(f->leaves, (size_t)m, sizeof(keyed), compare_keyed);
    int nj = 0, nl = 0, rising = 0;
    double level = f->joins[0].value;
    for (;;) {
        while (nj < m && f->joins[nj].value <= level + eps) {
            int i = f->joins[nj++].index;
            if (!(f->flags[i] & FLAG_FROZEN) && f->upper[i] > level + eps) {
                f->flags[i] |= FLAG_RISING;
                rising++;
                for (int t = f->start[i]; t < f->start[i + 1]; t++) f->slope[f->touch_k[t]] += f->touch_w[t];
            }
        }
        while (nl < m && f->leaves[nl].value <= level + eps) {
            int i = f->leaves[nl++].index;
            if (f->flags[i] & FLAG_FROZEN) continue;
            f->alloc[i] = f->upper[i];
            f->flags[i] |= FLAG_FROZEN;
            if (f->flags[i] & FLAG_RISING) {
                f->flags[i] &= ~FLAG_RISING;
                rising--;
                for (int t = f->start[i]; t < f->start[i + 1]; t++) f->slope[f->touch_k[t]] -= f->touch_w[t];
            }
        }
        for (int k = 0; k < f->nk; k++) {
            if (!(f->slope[k] > eps && f->used[k] >= f->available[k] - eps)) continue;
            for (int t = f->limit_start[k]; t < f->limit_start[k + 1]; t++) {
                int i = f->limit_member[t];
                if (!(f->flags[i] & FLAG_RISING)) continue;
                double v = level < f->upper[i] ? level : f->upper[i];
                f->alloc[i] = v > f->lower[i] ? v : f->lower[i];
                f->flags[i] = (f->flags[i] & ~FLAG_RISING) | FLAG_FROZEN;
                rising--;
                for (int u = f->start[i]; u < f->start[i + 1]; u++) f->slope[f->touch_k[u]] -= f->touch_w[u];
            }
        }
        if (rising == 0 && nj >= m) break;
        double step = HUGE_VAL;
        if (nj < m && f->joins[nj].value - level < step) step = f->joins[nj].value - level;
        if (nl < m && f->leaves[nl].value - level < step) step = f->leaves[nl].value - level;
        for (int k = 0; k < f->nk; k++) {
            if (f->slope[k] > eps) {
                double s = (f->available[k] - f->used[k]) / f->slope[k];
                if (s < 0) s = 0;
                if (s < step) step = s;
            }
        }
        if (!isfinite(step)) break;
        for (int k = 0; k < f->nk; k++) if (f->slope[k] != 0) f->used[k] += f->slope[k] * step;
        level += step;
    }
    for (int x = 0; x < m; x++) {
        int i = f->admitted[x];
        if (f->flags[i] & FLAG_RISING) f->alloc[i] = level;
    }
}

static void fill_prepare(lua_State *L, fill_state *f) {
    memset(f, 0, sizeof *f);
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    if (lua_gettop(L) < 3) lua_settop(L, 3);
    lua_settop(L, 3);
    fill_read(L, 1, f);   // pushes the static block (4), the scratch (5) and site.chargers (6)
    if (lua_istable(L, 3)) {
        // fixed amps count against the limits before anyone is admitted
        lua_getfield(L, 3, "fixed");
        if (lua_istable(L, -1)) {
            lua_pushnil(L);
            while (lua_next(L, -2)) {
                int ok = 0;
                lua_Integer i = lua_isinteger(L, -2) ? lua_tointeger(L, -2) : 0;
                double v = lua_tonumberx(L, -1, &ok);
                if (ok && i >= 1 && i <= f->n) touch_used(f, (int)i - 1, v);
                lua_pop(L, 1);
            }
        }
        lua_pop(L, 1);
    }
    fill_read_map(L, 3, "start_extra", f, f->extra, 0);
    fill_read_map(L, 3, "upper", f, NULL, 1);
}

static int native_fill(lua_State *L) {
    fill_state f;
    fill_prepare(L, &f);
    int all_fit;
    fill_admit(L, 2, &f, &all_fit);
    fill_rise(&f);
    int chargers = 6;
    lua_createtable(L, 0, (int)lua_rawlen(L, 2));
    int out = lua_gettop(L);
    for (int i = 0; i < f.n; i++) {
        if (!(f.flags[i] & FLAG_IN_ORDER)) continue;
        lua_rawgeti(L, chargers, i + 1);
        lua_getfield(L, -1, "id");
        lua_remove(L, -2);
        if (lua_isnil(L, -1)) { lua_pop(L, 1); continue; }
        lua_pushnumber(L, f.alloc[i]);
        lua_rawset(L, out);
    }
    return 1;
}

static int native_fits(lua_State *L) {
    fill_state f;
    lua_settop(L, 3);
    if (lua_istable(L, 3)) {   // fits(site, list, fixed): fixed is the map itself
        lua_createtable(L, 0, 1);
        lua_pushvalue(L, 3);
        lua_setfield(L, -2, "fixed");
        lua_replace(L, 3);
    }
    fill_prepare(L, &f);
    int all_fit;
    fill_admit(L, 2, &f, &all_fit);
    lua_pushboolean(L, all_fit);
    return 1;
}

// MARK: - state lifecycle

fb_sandbox *fb_open(size_t memory_limit, uint64_t random_seed, fb_buffer *error) {
    fb_sandbox *s = calloc(1, sizeof *s);
    if (!s) { buffer_set_string(error, "out of memory"); return NULL; }
    s->control.limit = memory_limit;
    s->L = lua_newstate(counting_alloc, &s->control);
    if (!s->L) { buffer_set_string(error, "memory limit too small for a Lua state"); free(s); return NULL; }
    fb_budget setup_budget = {10000000ull, 1000000000ull};
    arm(s, setup_budget);
    setup_args args = {random_seed};
    lua_pushcfunction(s->L, message_handler);
    lua_pushcfunction(s->L, sandbox_setup);
    lua_pushlightuserdata(s->L, &args);
    int status = lua_pcall(s->L, 1, 0, 1);
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
    }
    fb_buffer_free(&s->control.log);
    free(s);
}

size_t fb_memory_used(const fb_sandbox *s) { return s->control.used; }
size_t fb_memory_peak(const fb_sandbox *s) { return s->control.peak; }
uint64_t fb_last_instructions(const fb_sandbox *s) { return s->control.instructions; }

void fb_take_log(fb_sandbox *s, fb_buffer *into) {
    into->length = 0;
    buffer_append(into, s->control.log.data ? (const char *)s->control.log.data : "", s->control.log.length);
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
    lua_State *L = s->L;
    lua_settop(L, 0);
    arm(s, budget);
    load_args args = {s, chunkname, source, length, 0, 0};
    lua_pushcfunction(L, message_handler);
    lua_pushcfunction(L, protected_load);
    lua_pushlightuserdata(L, &args);
    int status = lua_pcall(L, 1, 0, 1);
    lua_settop(L, 0);
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
    reader r = {a->args, a->args + a->args_length};
    luaL_checkstack(L, (int)a->nargs + 8, "arguments");
    for (uint32_t i = 0; i < a->nargs; i++) push_value(L, &r, 0);
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
        lua_pushstring(L, a->persist);   // the argument table may be reused next call
        lua_pushnil(L);
        lua_rawset(L, 2);
    }
    writer w = {a->results, 0, NULL};
    a->results->length = 0;
    uint32_t count = (uint32_t)nresults;
    put(&w, &count, 4);
    for (int i = 1; i <= nresults && !w.failed; i++) encode_value(L, base + i, &w, 0);
    if (w.failed) {
        a->encode_error = w.why;
        return luaL_error(L, "%s", w.why);
    }
    return 0;
}

fb_status fb_call(fb_sandbox *s, const char *function, const uint8_t *args, size_t args_length,
                  uint32_t nargs, const char *persist, fb_budget budget, fb_buffer *results,
                  fb_buffer *error) {
    lua_State *L = s->L;
    lua_settop(L, 0);
    arm(s, budget);
    call_args a = {s, function, args, args_length, nargs, persist, results, 0, NULL};
    lua_pushcfunction(L, message_handler);
    lua_pushcfunction(L, protected_call);
    lua_pushlightuserdata(L, &a);
    int status = lua_pcall(L, 1, 0, 1);
    lua_settop(L, 0);
    if (status == LUA_OK) return FB_OK;
    fb_status r = classify(s, status, error);
    if (a.contract_error && r == FB_ERR_RUNTIME) r = FB_ERR_CONTRACT;
    if (a.encode_error && r == FB_ERR_RUNTIME) r = FB_ERR_RESULT;
    if (r == FB_ERR_MEMORY) lua_gc(L, LUA_GCCOLLECT);   // give the next call its ceiling back
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
    encode_value(L, -1, &w, 0);
    if (w.failed) { a->encode_error = w.why; return luaL_error(L, "%s", w.why); }
    return 0;
}

static int protected_set_persistent(lua_State *L) {
    persistent_args *a = lua_touserdata(L, 1);
    reader r = {a->tape, a->tape + a->length};
    push_value(L, &r, 0);
    if (lua_type(L, -1) != LUA_TTABLE) return luaL_error(L, "the kept value must be a table");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &persistent_key);
    return 0;
}

static fb_status run_persistent(fb_sandbox *s, lua_CFunction f, persistent_args *a, fb_buffer *error) {
    lua_State *L = s->L;
    lua_settop(L, 0);
    fb_budget budget = {1000000ull, 100000000ull};
    arm(s, budget);
    lua_pushcfunction(L, message_handler);
    lua_pushcfunction(L, f);
    lua_pushlightuserdata(L, a);
    int status = lua_pcall(L, 1, 0, 1);
    lua_settop(L, 0);
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
    encode_value(L, -1, &w, 0);
    if (w.failed) { a->encode_error = w.why; return luaL_error(L, "%s", w.why); }
    return 0;
}

fb_status fb_module_field(fb_sandbox *s, const char *name, fb_buffer *result, fb_buffer *error) {
    lua_State *L = s->L;
    lua_settop(L, 0);
    fb_budget budget = {1000000ull, 100000000ull};
    arm(s, budget);
    field_args a = {s, name, result, NULL};
    lua_pushcfunction(L, message_handler);
    lua_pushcfunction(L, protected_field);
    lua_pushlightuserdata(L, &a);
    int status = lua_pcall(L, 1, 0, 1);
    lua_settop(L, 0);
    if (status == LUA_OK) return FB_OK;
    fb_status r = classify(s, status, error);
    if (a.encode_error && r == FB_ERR_RUNTIME) r = FB_ERR_RESULT;
    return r;
}
