// A charger's fields that change from cycle to cycle: the fields of
// fb_charger_details cross for all chargers in one block (a userdata held by
// details_index) and become Lua values only when a script reads them. Writing
// them into every charger table each cycle cost about as much as the rest of
// the bridge (docs/performance.md); the native helpers read the block itself.
//
// A charger in site.chargers is an empty table (a proxy) under a metatable of
// the host: its __index is the charger's static table (id, index, phases, min,
// priority), whose own metatable's __index (details_index) answers from the
// block. The proxy's metatable is protected (__metatable), so a table that has
// it is the host's proxy: a script can neither give it to a table of its own
// nor change it.

#include "ShimInternal.h"

#include <math.h>
#include <string.h>

static const char details_meta_key = 0;

static void push_details_meta(lua_State *L);

// FB_TAPE_DETAILS: u32 count, then the records. The block lives in one place:
// the first upvalue of details_index, until the next cycle's replaces it.
// Its user value holds the `current` lists made for it, so that each is made
// once per cycle and a list a script changed is gone with the block.
void push_details_block(lua_State *L, reader *r) {
    uint32_t count = 0;
    if (r->end - r->p < 4) luaL_error(L, "tape: truncated details");
    memcpy(&count, r->p, 4);
    r->p += 4;
    size_t bytes = (size_t)count * sizeof(fb_charger_details);
    if (count > (1u << 20) || (size_t)(r->end - r->p) < bytes) luaL_error(L, "tape: truncated details");
    details_block *b = lua_newuserdatauv(L, sizeof(details_block) + bytes, 1);
    b->count = count;
    memcpy(b->records, r->p, bytes);
    r->p += bytes;
    push_details_meta(L);
    lua_pushliteral(L, "__index");
    lua_rawget(L, -2);
    lua_pushvalue(L, -3);
    lua_setupvalue(L, -2, 1);
    lua_pop(L, 3);
}

static const char *const status_words[FB_CHARGER_STATUS_COUNT] = {
    "free", "occupied", "charging", "discharging", "unavailable",
};

// Pushes field `key` of record `d` (charger `i` of the block at `block`);
// returns 0, pushing nothing, for a key that is not a field of the record.
static int push_detail(lua_State *L, int block, lua_Integer i, const fb_charger_details *d, const char *key) {
    switch (key[0]) {
        case 's':
            if (strcmp(key, "status") == 0) {
                int s = d->status;
                if (s < 0 || s >= FB_CHARGER_STATUS_COUNT) return 0;
                lua_pushstring(L, status_words[s]);
                return 1;
            }
            if (strcmp(key, "setpoint") == 0) {
                if (isnan(d->setpoint)) lua_pushnil(L); else lua_pushnumber(L, d->setpoint);
                return 1;
            }
            if (strcmp(key, "session_energy") == 0) { lua_pushnumber(L, d->session_energy); return 1; }
            return 0;
        case 'm':
            if (strcmp(key, "max") == 0) { lua_pushnumber(L, d->max); return 1; }
            return 0;
        case 'e':
            if (strcmp(key, "eligible") == 0) { lua_pushboolean(L, d->eligible); return 1; }
            return 0;
        case 'v':
            if (strcmp(key, "volts") == 0) { lua_pushnumber(L, d->volts); return 1; }
            return 0;
        case 'r':
            if (strcmp(key, "responding") == 0) { lua_pushboolean(L, d->responding); return 1; }
            return 0;
        case 'c':
            if (strcmp(key, "connected_for") == 0) { lua_pushnumber(L, d->connected_for); return 1; }
            if (strcmp(key, "current") != 0) return 0;
            // One list per charger and cycle, kept in the block's user value.
            if (lua_getiuservalue(L, block, 1) != LUA_TTABLE) {
                lua_pop(L, 1);
                lua_newtable(L);
                lua_pushvalue(L, -1);
                lua_setiuservalue(L, block, 1);
            }
            int made = lua_gettop(L);
            if (lua_rawgeti(L, made, i) != LUA_TTABLE) {
                lua_pop(L, 1);
                int n = d->current_count < 0 ? 0 : d->current_count > 3 ? 3 : d->current_count;
                lua_createtable(L, n, 0);
                for (int k = 0; k < n; k++) {
                    lua_pushnumber(L, d->current[k]);
                    lua_rawseti(L, -2, k + 1);
                }
                lua_pushvalue(L, -1);
                lua_rawseti(L, made, i);
            }
            lua_remove(L, made);
            return 1;
        default:
            return 0;
    }
}

// The names push_detail answers, for __pairs.
static const char *const detail_names[] = {
    "status", "max", "eligible", "volts", "current", "setpoint", "session_energy", "connected_for", "responding",
};

// Pushes this cycle's block and returns it, or NULL (pushing nil) when the
// state has none.
static const details_block *push_block(lua_State *L) {
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &details_meta_key) == LUA_TTABLE) {
        lua_pushliteral(L, "__index");
        lua_rawget(L, -2);
        if (!lua_getupvalue(L, -1, 1)) lua_pushnil(L);
        lua_replace(L, -3);
        lua_pop(L, 1);
    }
    return lua_type(L, -1) == LUA_TUSERDATA ? lua_touserdata(L, -1) : NULL;
}

// The charger index (1-based) a static table holds, or 0.
static lua_Integer static_index(lua_State *L, int table) {
    lua_pushliteral(L, "index");
    lua_Integer i = lua_rawget(L, table) == LUA_TNUMBER && lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 0;
    lua_pop(L, 1);
    return i;
}

// __index of a charger's static table (1: the table, 2: the key). Only the
// fields of fb_charger_details answer; anything else is nil, as it would be
// without it. Upvalues: this cycle's block, the string "index".
static int details_index(lua_State *L) {
    if (lua_type(L, 2) != LUA_TSTRING) return 0;
    const char *key = lua_tostring(L, 2);
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_Integer i = lua_rawget(L, 1) == LUA_TNUMBER && lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 0;
    lua_pushvalue(L, lua_upvalueindex(1));
    const details_block *b = lua_type(L, -1) == LUA_TUSERDATA ? lua_touserdata(L, -1) : NULL;
    if (!b || i < 1 || i > (lua_Integer)b->count) return 0;
    return push_detail(L, lua_gettop(L), i, &b->records[i - 1], key);
}

// Pushes the state's details metatable, making it when there is none yet.
static void push_details_meta(lua_State *L) {
    luaL_checkstack(L, 4, "tape");
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &details_meta_key) == LUA_TTABLE) return;
    lua_pop(L, 1);
    lua_createtable(L, 0, 2);
    lua_pushnil(L);
    lua_pushliteral(L, "index");
    lua_pushcclosure(L, details_index, 2);
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &details_meta_key);
}

// FB_TAPE_DETAILED: gives the table at `table` the state's details metatable.
void set_details_metatable(lua_State *L, int table) {
    table = lua_absindex(L, table);
    push_details_meta(L);
    lua_setmetatable(L, table);
}

// MARK: - the proxies

static const char proxy_index_key = 0;

// __pairs of a proxy: every field as a script reads it, the static ones, this
// cycle's, and whatever the script added, in a table of their own.
static int proxy_pairs(lua_State *L) {
    luaL_checkstack(L, 8, "pairs");
    lua_settop(L, 1);
    lua_newtable(L);                                   // 2: the fields
    if (lua_getmetatable(L, 1)) {
        lua_pushliteral(L, "__index");
        if (lua_rawget(L, -2) == LUA_TTABLE) {
            int stat = lua_gettop(L);
            lua_pushnil(L);
            while (lua_next(L, stat)) {
                lua_pushvalue(L, -2);
                lua_insert(L, -2);
                lua_rawset(L, 2);
            }
            lua_Integer i = static_index(L, stat);
            const details_block *b = push_block(L);
            if (b && i >= 1 && i <= (lua_Integer)b->count) {
                int block = lua_gettop(L);
                for (size_t k = 0; k < sizeof detail_names / sizeof detail_names[0]; k++) {
                    if (push_detail(L, block, i, &b->records[i - 1], detail_names[k])) lua_setfield(L, 2, detail_names[k]);
                }
            }
        }
    }
    lua_settop(L, 2);
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, 2);
    }
    lua_getglobal(L, "next");
    lua_insert(L, 2);
    lua_pushnil(L);
    return 3;
}

// Called on each metatable the host gives a table it reuses (Tape.c): when its
// __index is a charger's static table, the metatable becomes a proxy's: it
// learns the charger's index (for proxy_details) and lists the fields on pairs.
void mark_if_proxy(lua_State *L, int meta) {
    luaL_checkstack(L, 3, "tape");
    lua_pushliteral(L, "__index");
    if (lua_rawget(L, meta) == LUA_TTABLE && lua_getmetatable(L, -1)) {
        int detailed = lua_rawgetp(L, LUA_REGISTRYINDEX, &details_meta_key) == LUA_TTABLE && lua_rawequal(L, -1, -2);
        lua_pop(L, 2);
        lua_Integer i = detailed ? static_index(L, lua_gettop(L)) : 0;
        if (i > 0) {
            lua_pushinteger(L, i);
            lua_rawsetp(L, meta, &proxy_index_key);
            lua_pushcfunction(L, proxy_pairs);
            lua_setfield(L, meta, "__pairs");
        }
    }
    lua_pop(L, 1);
}

const details_block *current_details(lua_State *L) {
    const details_block *b = push_block(L);
    lua_pop(L, 1);   // details_index holds the block until the next call's tape
    return b;
}

const fb_charger_details *proxy_details(lua_State *L, int idx, const details_block *b) {
    idx = lua_absindex(L, idx);
    if (!b || !lua_getmetatable(L, idx)) return NULL;
    int found = lua_rawgetp(L, -1, &proxy_index_key) == LUA_TNUMBER;
    lua_Integer i = found ? lua_tointeger(L, -1) : 0;
    lua_pop(L, 2);
    if (i < 1 || i > (lua_Integer)b->count) return NULL;
    // A field the script put there (rawset) hides the record's.
    lua_pushnil(L);
    if (lua_next(L, idx)) { lua_pop(L, 2); return NULL; }
    return &b->records[i - 1];
}
