// The byte tape (CLuaShim.h) to Lua values and back, and the skeleton cache.

#include "ShimInternal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// MARK: - tape decoding (Swift -> Lua), runs under lua_pcall

static int read_bytes(reader *r, void *out, size_t n) {
    if ((size_t)(r->end - r->p) < n) return 0;
    memcpy(out, r->p, n);
    r->p += n;
    return 1;
}


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
    uint32_t slot = 0;   // luaL_error does not return, but is not declared noreturn
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

void push_value(lua_State *L, reader *r, int depth) {
    uint8_t tag = 0;
    if (!read_bytes(r, &tag, 1)) luaL_error(L, "tape: truncated");
    switch (tag) {
        case FB_TAPE_NIL: lua_pushnil(L); break;
        case FB_TAPE_TRUE: lua_pushboolean(L, 1); break;
        case FB_TAPE_FALSE: lua_pushboolean(L, 0); break;
        case FB_TAPE_NUMBER: { double d = 0; if (!read_bytes(r, &d, 8)) luaL_error(L, "tape: truncated"); lua_pushnumber(L, d); break; }
        case FB_TAPE_INTEGER: { int64_t i = 0; if (!read_bytes(r, &i, 8)) luaL_error(L, "tape: truncated"); lua_pushinteger(L, (lua_Integer)i); break; }
        case FB_TAPE_STRING: {
            uint32_t n = 0;
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
        default: luaL_error(L, "tape: unknown tag %d", (int)tag);
    }
}

// MARK: - tape encoding (Lua -> Swift); raw access only, no metamethods

void put(writer *w, const void *bytes, size_t n) {
    if (w->failed) return;
    if (w->out->length + n > FB_MAX_RESULT_BYTES) { w->failed = 1; w->why = "result larger than 4 MiB"; return; }
    if (!buffer_append(w->out, bytes, n)) { w->failed = 1; w->why = "out of memory encoding the result"; }
}

static void put_tag(writer *w, uint8_t tag) { put(w, &tag, 1); }

void encode_value(lua_State *L, int idx, writer *w, int depth) {
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
