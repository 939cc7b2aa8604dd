// Charger details read on demand: the fields of fb_charger_details cross for
// all chargers in one block (a userdata in the state's cache) and become Lua
// values only when a script reads them. The shipped policies never read them;
// decoding them as fields of every charger table cost about as much as all the
// rest of the site table (docs/performance.md).

#include "ShimInternal.h"

#include <math.h>
#include <string.h>

typedef struct {
    uint32_t count;
    fb_charger_details records[];
} details_block;

static const char details_meta_key = 0;

// FB_TAPE_DETAILS: u32 count, then the records. The block's user value holds
// the `current` lists made for it, so that each is made once per cycle and a
// list a script changed is gone with the block.
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
}

// __index of a detailed table (1: the table, 2: the key). Only the fields of
// fb_charger_details answer; anything else is nil, as it would be without it.
static int details_index(lua_State *L) {
    if (lua_type(L, 2) != LUA_TSTRING) return 0;
    const char *key = lua_tostring(L, 2);
    lua_pushliteral(L, "index");
    if (lua_rawget(L, 1) != LUA_TNUMBER || !lua_isinteger(L, -1)) return 0;
    lua_Integer i = lua_tointeger(L, -1);
    push_cached(L, FB_SLOT_CHARGER_DETAILS);
    int block = lua_gettop(L);
    const details_block *b = lua_type(L, block) == LUA_TUSERDATA ? lua_touserdata(L, block) : NULL;
    if (!b || i < 1 || i > (lua_Integer)b->count) return 0;
    const fb_charger_details *d = &b->records[i - 1];

    if (strcmp(key, "current") == 0) {
        if (lua_getiuservalue(L, block, 1) != LUA_TTABLE) {
            lua_pop(L, 1);
            lua_newtable(L);
            lua_pushvalue(L, -1);
            lua_setiuservalue(L, block, 1);
        }
        int made = lua_gettop(L);
        if (lua_rawgeti(L, made, i) == LUA_TTABLE) return 1;
        lua_pop(L, 1);
        int n = d->current_count < 0 ? 0 : d->current_count > 3 ? 3 : d->current_count;
        lua_createtable(L, n, 0);
        for (int k = 0; k < n; k++) {
            lua_pushnumber(L, d->current[k]);
            lua_rawseti(L, -2, k + 1);
        }
        lua_pushvalue(L, -1);
        lua_rawseti(L, made, i);
        return 1;
    }
    if (strcmp(key, "setpoint") == 0) {
        if (isnan(d->setpoint)) return 0;
        lua_pushnumber(L, d->setpoint);
        return 1;
    }
    if (strcmp(key, "session_energy") == 0) { lua_pushnumber(L, d->session_energy); return 1; }
    if (strcmp(key, "connected_for") == 0) { lua_pushnumber(L, d->connected_for); return 1; }
    if (strcmp(key, "responding") == 0) { lua_pushboolean(L, d->responding); return 1; }
    return 0;
}

// FB_TAPE_DETAILED: gives the table at `table` the state's details metatable.
void set_details_metatable(lua_State *L, int table) {
    luaL_checkstack(L, 3, "tape");
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &details_meta_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_createtable(L, 0, 1);
        lua_pushcfunction(L, details_index);
        lua_setfield(L, -2, "__index");
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &details_meta_key);
    }
    lua_setmetatable(L, table);
}
