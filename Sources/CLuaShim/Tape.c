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
        int nil_key = push_value(L, r, depth + 1);
        push_value(L, r, depth + 1);
        if (nil_key) { lua_pop(L, 2); continue; }
        lua_rawset(L, -3);
    }
}

static const char cache_key = 0;
static const char symbols_key = 0;

// Pushes what the state's cache holds in `slot`, or nil.
void push_cached(lua_State *L, lua_Integer slot) {
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &cache_key) != LUA_TTABLE) return;   // leaves nil
    lua_rawgeti(L, -1, slot);
    lua_remove(L, -2);
}

// Pushes the charger keys of the state's cache (FB_SLOT_CHARGER_KEYS), or nil.
void push_charger_keys(lua_State *L) { push_cached(L, FB_SLOT_CHARGER_KEYS); }

// Pushes the state's table under `key`, making it when there is none yet.
static void push_kept(lua_State *L, const char *key) {
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, key);
    }
}

// The cache and the symbols stay on the stack while a tape is decoded: one
// registry lookup per call instead of one per cached value.
void reader_open(lua_State *L, reader *r, const uint8_t *tape, size_t length) {
    luaL_checkstack(L, 4, "tape");
    r->p = tape;
    r->end = tape + length;
    push_kept(L, &cache_key);
    r->cache = lua_gettop(L);
    push_kept(L, &symbols_key);
    r->symbols = lua_gettop(L);
}

void reader_close(lua_State *L, reader *r) {
    lua_remove(L, r->symbols);
    lua_remove(L, r->cache);
}

// Replaces the kept table under `key` (and its stack slot) with the one on top.
static void replace_kept(lua_State *L, const char *key, int slot) {
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, key);
    lua_replace(L, slot);
}

static uint32_t read_slot(lua_State *L, reader *r) {
    uint32_t slot = 0;   // luaL_error does not return, but is not declared noreturn
    if (!read_bytes(r, &slot, 4)) luaL_error(L, "tape: truncated slot");
    return slot;
}

// __newindex of the metatables the host gives its reused tables: a script that
// adds a field to one makes the next decode check every reused table for
// fields the host did not write (update_table). Writing existing fields needs
// no note: the host writes them all again. `rawset` goes around this; the
// documentation asks policies to treat `site` as read-only.
static int note_new_field(lua_State *L) {
    control_of(L)->site_touched = 1;
    lua_settop(L, 3);
    lua_rawset(L, 1);
    return 0;
}

// Makes the metatable on top of the stack one of the host's, once: a
// __newindex of note_new_field, protected from getmetatable and setmetatable
// (else a script could reach the static table behind __index and change it for
// every later cycle, or give the metatable to a table of its own), and, for a
// charger's, a proxy's (Details.c).
static void adopt_metatable(lua_State *L) {
    lua_pushliteral(L, "__newindex");
    if (lua_rawget(L, -2) == LUA_TNIL) {
        lua_pop(L, 1);
        int meta = lua_gettop(L);
        lua_pushliteral(L, "__newindex");
        lua_pushcfunction(L, note_new_field);
        lua_rawset(L, meta);
        lua_pushliteral(L, "__metatable");
        lua_pushboolean(L, 0);
        lua_rawset(L, meta);
        mark_if_proxy(L, meta);
    } else {
        lua_pop(L, 1);
    }
}

// Writes the fields of the tape table at r into the table on top of the stack.
// Returns 0 (and leaves a partly written table) when the result would not be
// exactly those fields: the script added or shadowed one, or a field the tape
// no longer has is still there. The caller then makes a fresh table.
static int update_table(lua_State *L, reader *r, int depth, int trusted) {
    uint8_t tag;
    uint32_t narr, nrec;
    if (!read_bytes(r, &tag, 1) || tag != FB_TAPE_TABLE) return 0;
    if (!read_bytes(r, &narr, 4) || !read_bytes(r, &nrec, 4)) luaL_error(L, "tape: truncated table");
    if (depth > FB_MAX_DEPTH) luaL_error(L, "tape: nested too deep");
    luaL_checkstack(L, 4, "tape");
    int table = lua_gettop(L);
    int written = 0;
    // Whether the keys so far were 1, 2, 3 ... with no nil value: a sequence.
    int sequence = 1;
    int64_t next_key = 1;
    for (;;) {
        if (r->p >= r->end) luaL_error(L, "tape: unterminated table");
        if (*r->p == FB_TAPE_END) { r->p++; break; }
        if (sequence) {
            int64_t k = 0;
            sequence = *r->p == FB_TAPE_INTEGER && r->end - r->p > 8 && (memcpy(&k, r->p + 1, 8), k == next_key);
            next_key++;
        }
        int nil_key = push_value(L, r, depth + 1);
        int nil_value = push_value(L, r, depth + 1);
        if (nil_value) sequence = 0;
        if (nil_key) { lua_pop(L, 2); continue; }
        if (!nil_value) written++;
        lua_rawset(L, table);
    }
    // A table under a metatable of ours learns of new fields through
    // note_new_field; it need not be counted unless one came.
    if (trusted) return 1;
    if (sequence && written > 0) {
        // Keys 1..n, all set, sit in the array part, where `next` after n
        // goes on through every other key: if there is none, the table holds
        // exactly what was written.
        if (lua_rawlen(L, table) != (lua_Unsigned)written) return 0;
        lua_pushinteger(L, written);
        if (lua_next(L, table)) { lua_pop(L, 2); return 0; }
        return 1;
    }
    int count = 0;
    lua_pushnil(L);
    while (lua_next(L, table)) { count++; lua_pop(L, 1); }
    return count == written;
}

// FB_TAPE_PROXIES: site.chargers, a list of empty tables, one per charger, that
// reach the charger's fields through their metatable (Details.c). They are made
// once per configuration; a cycle only checks them, which is one table lookup
// each while no script added a field to a host table (note_new_field): a
// proxy's metatable is protected, so only a new field can change one.
static void push_proxies(lua_State *L, reader *r) {
    uint32_t count = 0, list_slot = 0, first = 0, first_meta = 0;
    if (!read_bytes(r, &count, 4) || !read_bytes(r, &list_slot, 4) || !read_bytes(r, &first, 4) || !read_bytes(r, &first_meta, 4))
        luaL_error(L, "tape: truncated proxies");
    if (count > (1u << 20)) luaL_error(L, "tape: too many proxies");
    luaL_checkstack(L, 6, "tape");
    int cache = r->cache;
    int touched = control_of(L)->site_touched;
    // The list: reused while it is a plain list of `count` without a metatable
    // (a script may have reordered it: every entry is written again below).
    int reuse = 0;
    if (lua_rawgeti(L, cache, (lua_Integer)list_slot) == LUA_TTABLE && lua_rawlen(L, -1) == (lua_Unsigned)count) {
        if (lua_getmetatable(L, -1)) {
            lua_pop(L, 1);
        } else {
            // rawlen is a border: list[count] is set. `next` after it goes on
            // through every other key.
            if (count > 0) lua_pushinteger(L, (lua_Integer)count); else lua_pushnil(L);
            if (lua_next(L, -2)) lua_pop(L, 2); else reuse = 1;
        }
    }
    if (!reuse) {
        lua_pop(L, 1);
        lua_createtable(L, (int)count, 0);
        lua_pushvalue(L, -1);
        lua_rawseti(L, cache, (lua_Integer)list_slot);
    }
    int list = lua_gettop(L);
    for (uint32_t i = 0; i < count; i++) {
        int ok = lua_rawgeti(L, cache, (lua_Integer)first + i) == LUA_TTABLE;
        if (ok && touched) {
            lua_pushnil(L);
            ok = lua_next(L, -2) == 0;
            if (!ok) lua_pop(L, 2);
        }
        if (!ok) {
            lua_pop(L, 1);
            lua_createtable(L, 0, 0);
            if (lua_rawgeti(L, cache, (lua_Integer)first_meta + i) != LUA_TTABLE) luaL_error(L, "tape: proxy %d has no metatable", (int)i + 1);
            adopt_metatable(L);
            lua_setmetatable(L, -2);
            lua_pushvalue(L, -1);
            lua_rawseti(L, cache, (lua_Integer)first + i);
        }
        lua_rawseti(L, list, (lua_Integer)i + 1);
    }
}

// Pushes the next value; returns 1 when it was nil, so that callers need not ask.
int push_value(lua_State *L, reader *r, int depth) {
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
        case FB_TAPE_SYMBOL: {
            uint16_t n = 0;
            if (!read_bytes(r, &n, 2)) luaL_error(L, "tape: truncated symbol");
            if (lua_rawgeti(L, r->symbols, (lua_Integer)n) != LUA_TSTRING) luaL_error(L, "tape: no symbol %d", (int)n);
            return 0;
        }
        case FB_TAPE_SYMBOLS: {
            uint32_t count = 0;
            if (!read_bytes(r, &count, 4) || count > 0xFFFFu) luaL_error(L, "tape: bad symbol count");
            luaL_checkstack(L, 3, "tape");
            lua_createtable(L, (int)count, 0);
            for (uint32_t i = 1; i <= count; i++) {
                uint32_t n = 0;
                if (!read_bytes(r, &n, 4) || (size_t)(r->end - r->p) < n) luaL_error(L, "tape: truncated symbol");
                lua_pushlstring(L, (const char *)r->p, n);
                r->p += n;
                lua_rawseti(L, -2, (lua_Integer)i);
            }
            replace_kept(L, &symbols_key, r->symbols);
            return push_value(L, r, depth);
        }
        case FB_TAPE_DETAILS:
            push_details_block(L, r);
            return push_value(L, r, depth);
        case FB_TAPE_DETAILED: {
            int nil = push_value(L, r, depth);
            if (lua_istable(L, -1)) set_details_metatable(L, lua_gettop(L));
            return nil;
        }
        case FB_TAPE_RESET:
            lua_newtable(L);
            replace_kept(L, &cache_key, r->cache);
            return push_value(L, r, depth);
        case FB_TAPE_DEFINE:
            // A run of definitions (one per charger with a new skeleton) in a
            // loop, not one C frame each.
            for (;;) {
                uint32_t slot = read_slot(L, r);
                push_value(L, r, depth + 1);
                lua_rawseti(L, r->cache, (lua_Integer)slot);
                if (r->p < r->end && *r->p == FB_TAPE_DEFINE) { r->p++; continue; }
                return push_value(L, r, depth);
            }
        case FB_TAPE_REF: {
            uint32_t slot = read_slot(L, r);
            luaL_checkstack(L, 2, "tape");
            return lua_rawgeti(L, r->cache, (lua_Integer)slot) == LUA_TNIL;
        }
        case FB_TAPE_UPDATE: {
            uint32_t slot = read_slot(L, r), meta = read_slot(L, r);
            luaL_checkstack(L, 6, "tape");
            int cache = r->cache;
            int top = lua_gettop(L);
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
                int trusted = meta && !control_of(L)->site_touched;
                if (same_meta && update_table(L, r, depth, trusted)) break;
            }
            lua_settop(L, top);
            r->p = start;
            push_value(L, r, depth);
            if (meta && lua_istable(L, -1)) {
                if (lua_rawgeti(L, cache, (lua_Integer)meta) == LUA_TTABLE) {
                    adopt_metatable(L);
                    lua_setmetatable(L, -2);
                } else {
                    lua_pop(L, 1);
                }
            }
            lua_pushvalue(L, -1);
            lua_rawseti(L, cache, (lua_Integer)slot);
            break;
        }
        case FB_TAPE_PROXIES: push_proxies(L, r); break;
        default: luaL_error(L, "tape: unknown tag %d", (int)tag);
    }
    return 0;
}

// MARK: - tape encoding (Lua -> Swift); raw access only, no metamethods

void put(writer *w, const void *bytes, size_t n) {
    if (w->failed) return;
    if (w->out->length + n > FB_MAX_RESULT_BYTES) { w->failed = 1; w->why = "result larger than 4 MiB"; return; }
    if (!buffer_append(w->out, bytes, n)) { w->failed = 1; w->why = "out of memory encoding the result"; }
}

static void put_tag(writer *w, uint8_t tag) { put(w, &tag, 1); }

// Writes the charger key for the string key on top of the stack when the
// table at `keys` ({ [charger id] = index }) has it; returns whether it did.
static int put_charger_key(lua_State *L, int keys, writer *w) {
    if (lua_type(L, -1) != LUA_TSTRING) return 0;
    lua_pushvalue(L, -1);
    int found = 0;
    if (lua_rawget(L, keys) == LUA_TNUMBER && lua_isinteger(L, -1)) {
        lua_Integer i = lua_tointeger(L, -1);
        if (i >= 0 && i <= UINT32_MAX) {
            uint32_t index = (uint32_t)i;
            put_tag(w, FB_TAPE_CHARGER); put(w, &index, 4);
            found = 1;
        }
    }
    lua_pop(L, 1);
    return found;
}

// A table's entries; with `keys` (a stack index, 0 for none) its string keys
// that are charger ids go as FB_TAPE_CHARGER.
static void encode_table(lua_State *L, int idx, writer *w, int depth, int keys) {
    if (depth > FB_MAX_DEPTH) { w->failed = 1; w->why = "result nested deeper than 48 tables (a cycle?)"; return; }
    if (!lua_checkstack(L, 4)) { w->failed = 1; w->why = "result too deep for the stack"; return; }
    uint32_t zero = 0;
    put_tag(w, FB_TAPE_TABLE); put(w, &zero, 4); put(w, &zero, 4);
    lua_pushnil(L);
    while (!w->failed && lua_next(L, idx)) {
        lua_pushvalue(L, -2);
        if (!(keys && put_charger_key(L, keys, w))) encode_value(L, -1, w, depth + 1);
        lua_pop(L, 1);
        encode_value(L, -1, w, depth + 1);
        lua_pop(L, 1);
    }
    if (w->failed) return;   // the stack is reset by the caller
    put_tag(w, FB_TAPE_END);
}

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
        case LUA_TTABLE: encode_table(L, idx, w, depth, 0); break;
        default: {
            const char *name = lua_typename(L, lua_type(L, idx));
            uint32_t n = (uint32_t)strlen(name);
            put_tag(w, FB_TAPE_OPAQUE); put(w, &n, 4); put(w, name, n);
        }
    }
}

// As encode_value, but a table's string keys found in the table at `keys`
// ({ [charger id] = index }) are sent as FB_TAPE_CHARGER.
void encode_keyed(lua_State *L, int idx, int keys, writer *w) {
    idx = lua_absindex(L, idx);
    keys = lua_absindex(L, keys);
    if (lua_type(L, idx) == LUA_TTABLE && lua_type(L, keys) == LUA_TTABLE) encode_table(L, idx, w, 0, keys);
    else encode_value(L, idx, w, 0);
}
