// The libraries a script gets, and the replacements that keep the budget in
// reach (docs/sandbox.md).

#include "ShimInternal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    fb_control *c = fb_control_of(L);
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
        if (i > 1) fb_buffer_append(&c->log, "\t", 1);
        fb_buffer_append(&c->log, s, len);
    }
    if (c->log.length + 1 <= FB_LOG_LIMIT) fb_buffer_append(&c->log, "\n", 1);
    return 0;
}


// Re-arms the hook on the coroutine before every resume. Lua 5.4 threads also
// inherit the hook of the thread that created them; this covers threads that
// were created before a budget tripped and so still fire every 1000 steps.
static int safe_resume(lua_State *L) {
    lua_State *co = lua_tothread(L, 1);
    if (co) fb_arm_thread(L, co);
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
    fb_arm_thread(L, co);
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

// table.create(narr [, nrec]), as Lua 5.5 has it: an empty table with room for
// narr entries 1..narr and nrec other keys. Filled key by key, a table grows
// by doubling, rehashing every key each time; a policy that knows how many
// chargers it will index saves that. The allocator's ceiling covers the room.
static int table_create(lua_State *L) {
    lua_Integer narr = luaL_checkinteger(L, 1);
    lua_Integer nrec = luaL_optinteger(L, 2, 0);
    luaL_argcheck(L, narr >= 0 && narr <= (1 << 24), 1, "out of range");
    luaL_argcheck(L, nrec >= 0 && nrec <= (1 << 24), 2, "out of range");
    lua_createtable(L, (int)narr, (int)nrec);
    return 1;
}

// The instruction hook never fires inside a C function, so a library call
// that loops in C escapes the budget. Two do: string.rep of an empty string
// (a billion empty copies took 6 s; the policy fuzzer found it) and pattern
// matching, whose backtracking grows as the subject's length to the power of
// the pattern's quantifiers.
static int safe_rep(lua_State *L) {
    size_t l, lsep = 0;
    luaL_checklstring(L, 1, &l);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_optlstring(L, 3, "", &lsep);
    if (n <= 0 || l + lsep == 0) {
        lua_pushliteral(L, "");
        return 1;
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

#define PATTERN_COST_LIMIT 1e9

// find, match, gmatch, gsub: refuses a match whose worst case is beyond the
// budget's reach, then calls the library's own function (upvalue 1).
static int safe_pattern(lua_State *L) {
    size_t ls = 0, lp = 0;
    luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    int plain = lua_toboolean(L, lua_upvalueindex(2)) && lua_toboolean(L, 4);   // find(s, p, init, plain)
    if (!plain) {
        int quantifiers = 0;
        for (size_t i = 0; i < lp; i++) {
            if (p[i] == '%') { i++; continue; }
            if (p[i] == '*' || p[i] == '+' || p[i] == '-') quantifiers++;
        }
        double cost = 1;
        for (int k = 0; k <= quantifiers && cost <= PATTERN_COST_LIMIT; k++) cost *= (double)ls + 1;
        if (cost > PATTERN_COST_LIMIT)
            return luaL_error(L, "string pattern too costly: %d quantifiers over %d bytes could outlast the time budget",
                              quantifiers, (int)ls);
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

static void wrap_string_function(lua_State *L, int table, const char *name, lua_CFunction wrapper, int isFind) {
    lua_getfield(L, table, name);
    if (wrapper == safe_pattern) {
        lua_pushboolean(L, isFind);
        lua_pushcclosure(L, wrapper, 2);
    } else {
        lua_pushcclosure(L, wrapper, 1);
    }
    lua_setfield(L, table, name);
}

static void remove_field(lua_State *L, int table, const char *name) {
    lua_pushnil(L);
    lua_setfield(L, table, name);
}



int fb_sandbox_setup(lua_State *L) {
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

    // The host's sharing code (Sharing.c); a policy's prelude takes these two
    // and builds the rest of `fusebox` on them in Lua.
    static const luaL_Reg primitives[] = {
        {"water_fill", fb_lua_water_fill},
        {"sort_order", fb_lua_sort_order},
        {NULL, NULL},
    };
    lua_createtable(L, 0, 2);
    luaL_setfuncs(L, primitives, 0);
    lua_setfield(L, g, "fusebox");

    lua_getfield(L, g, "table");
    lua_pushcfunction(L, table_create);
    lua_setfield(L, -2, "create");
    lua_pop(L, 1);

    lua_getfield(L, g, "string");
    int str = lua_gettop(L);
    remove_field(L, str, "dump");
    wrap_string_function(L, str, "rep", safe_rep, 0);
    wrap_string_function(L, str, "find", safe_pattern, 1);
    wrap_string_function(L, str, "match", safe_pattern, 0);
    wrap_string_function(L, str, "gmatch", safe_pattern, 0);
    wrap_string_function(L, str, "gsub", safe_pattern, 0);
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
