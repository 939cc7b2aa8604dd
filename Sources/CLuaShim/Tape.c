// The byte tape (CLuaShim.h) to Lua values and back. Every call decodes its
// arguments into new tables: nothing of one call's site is kept for the next.

#include "ShimInternal.h"

#include <string.h>

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
        int nil_key = fb_push_value(L, r, depth + 1);
        fb_push_value(L, r, depth + 1);
        if (nil_key) { lua_pop(L, 2); continue; }
        lua_rawset(L, -3);
    }
}

// A list of numbers in one block: the limits' members and weights, a
// charger's phases and current. Most of a site's values are in such lists.
static void push_list(lua_State *L, reader *r, int integers) {
    uint32_t n = 0;
    if (!read_bytes(r, &n, 4) || (size_t)(r->end - r->p) / 8 < n) luaL_error(L, "tape: truncated list");
    luaL_checkstack(L, 2, "tape");
    lua_createtable(L, (int)n, 0);
    for (uint32_t j = 1; j <= n; j++) {
        if (integers) {
            int64_t i;
            memcpy(&i, r->p, 8);
            lua_pushinteger(L, (lua_Integer)i);
        } else {
            double d;
            memcpy(&d, r->p, 8);
            lua_pushnumber(L, d);
        }
        r->p += 8;
        lua_rawseti(L, -2, (lua_Integer)j);
    }
}

void fb_reader_open(reader *r, const uint8_t *tape, size_t length) {
    r->p = tape;
    r->end = tape + length;
}

// Pushes the next value; returns 1 when it was nil, so that callers need not ask.
int fb_push_value(lua_State *L, reader *r, int depth) {
    uint8_t tag = 0;
    if (!read_bytes(r, &tag, 1)) luaL_error(L, "tape: truncated");
    switch (tag) {
        case FB_TAPE_NIL: lua_pushnil(L); return 1;
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
        case FB_TAPE_NUMBERS:
        case FB_TAPE_INTEGERS: push_list(L, r, tag == FB_TAPE_INTEGERS); break;
        default: luaL_error(L, "tape: unknown tag %d", (int)tag);
    }
    return 0;
}

// MARK: - tape encoding (Lua -> Swift); raw access only, no metamethods

static void put(writer *w, const void *bytes, size_t n) {
    if (w->failed) return;
    if (w->out->length + n > FB_MAX_RESULT_BYTES) { w->failed = 1; w->why = "result larger than 4 MiB"; return; }
    if (!fb_buffer_append(w->out, bytes, n)) { w->failed = 1; w->why = "out of memory encoding the result"; }
}

static void put_tag(writer *w, uint8_t tag) { put(w, &tag, 1); }

void fb_put_count(writer *w, uint32_t count) { put(w, &count, 4); }

static void encode_table(lua_State *L, int idx, writer *w, int depth) {
    if (depth > FB_MAX_DEPTH) { w->failed = 1; w->why = "result nested deeper than 48 tables (a cycle?)"; return; }
    if (!lua_checkstack(L, 4)) { w->failed = 1; w->why = "result too deep for the stack"; return; }
    uint32_t zero = 0;
    put_tag(w, FB_TAPE_TABLE); put(w, &zero, 4); put(w, &zero, 4);
    lua_pushnil(L);
    while (!w->failed && lua_next(L, idx)) {
        fb_encode_value(L, -2, w, depth + 1);
        fb_encode_value(L, -1, w, depth + 1);
        lua_pop(L, 1);
    }
    if (w->failed) return;   // the stack is reset by the caller
    put_tag(w, FB_TAPE_END);
}

void fb_encode_value(lua_State *L, int idx, writer *w, int depth) {
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
        case LUA_TTABLE: encode_table(L, idx, w, depth); break;
        default: {
            const char *name = lua_typename(L, lua_type(L, idx));
            uint32_t n = (uint32_t)strlen(name);
            put_tag(w, FB_TAPE_OPAQUE); put(w, &n, 4); put(w, name, n);
        }
    }
}
