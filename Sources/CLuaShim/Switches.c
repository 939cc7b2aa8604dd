// fusebox.switches and fusebox.record_switches: what a policy with start/stop
// hysteresis remembers of each charger (whether it gets current, since when,
// whether its last switch was off), kept by charger index so that the policy's
// loops index arrays instead of hashing ids.
//
// memory.switches = { on = { [i] = true }, since = { [i] = time },
//                     was_on = { [i] = true }, ids = { [i] = id }, token = ... }
// The indices are those of the configuration the state was last used with:
// `token` (a userdata only this Lua state makes, one per site.structure) says
// whether that is the current one. When it is not (a new configuration, or the
// memory came from another state: a hot reload, `fusebox policy test`), each
// entry moves to its charger's new index by id (`ids`), and a charger that is
// gone is forgotten. A loop over every charger in Lua cost priority a fifth of
// its time (docs/performance.md).

#include "ShimInternal.h"

static const char token_key = 0;   // registry: { [1] = site.structure, [2] = its token }

// Pushes this state's token for site.structure, making a new one when the
// structure changed (or the site has none: then every call makes one, and the
// entries are moved by id every time).
static void push_token(lua_State *L, int site) {
    luaL_checkstack(L, 4, "switches");
    lua_getfield(L, site, "structure");
    int has = lua_isinteger(L, -1);
    lua_Integer structure = has ? lua_tointeger(L, -1) : 0;
    lua_pop(L, 1);
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &token_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_createtable(L, 2, 0);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &token_key);
    }
    int kept = lua_gettop(L);
    if (has && lua_rawgeti(L, kept, 1) == LUA_TNUMBER && lua_tointeger(L, -1) == structure) {
        lua_pop(L, 1);
        lua_rawgeti(L, kept, 2);
    } else {
        lua_settop(L, kept);
        lua_newuserdatauv(L, 1, 0);
        lua_pushinteger(L, structure);
        lua_rawseti(L, kept, 1);
        lua_pushvalue(L, -1);
        lua_rawseti(L, kept, 2);
    }
    lua_remove(L, kept);
}

// Copies t[j] of the old table at `from` (keyed by old index) into the new one
// at `to` (keyed by new index), through the old ids at `old_ids` and the new
// indices at `index_of` ({ [id] = new index }).
static void move_by_id(lua_State *L, int from, int to, int old_ids, int index_of) {
    if (!lua_istable(L, from)) return;
    lua_pushnil(L);
    while (lua_next(L, from)) {
        // -2: the old index, -1: the value
        lua_Integer i = 0;
        if (lua_isinteger(L, -2)) {
            if (lua_rawgeti(L, old_ids, lua_tointeger(L, -2)) == LUA_TSTRING && lua_rawget(L, index_of) == LUA_TNUMBER)
                i = lua_tointeger(L, -1);
            lua_pop(L, 1);   // the new index, or what was not an id
        }
        if (i > 0) {
            lua_pushvalue(L, -1);
            lua_rawseti(L, to, i);
        }
        lua_pop(L, 1);
    }
}

// Pushes memory.switches for the site's current configuration (see the top).
static void push_switches(lua_State *L, int site, int memory) {
    luaL_checkstack(L, 12, "switches");
    int base = lua_gettop(L);
    push_token(L, site);                                 // base+1
    lua_pushliteral(L, "switches");
    if (lua_rawget(L, memory) == LUA_TTABLE) {           // base+2
        lua_pushliteral(L, "token");
        lua_rawget(L, base + 2);
        int same = lua_rawequal(L, -1, base + 1);
        lua_pop(L, 1);
        if (same) {
            lua_remove(L, base + 1);
            return;
        }
    }
    int old = base + 2;
    lua_getfield(L, site, "chargers");                   // base+3
    int chargers = base + 3;
    lua_Integer n = luaL_len(L, chargers);
    int size = n > 0 && n < (1 << 20) ? (int)n : 0;
    lua_createtable(L, size, 0);                         // base+4: ids
    lua_createtable(L, 0, size);                         // base+5: { [id] = index }
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, chargers, i);
        lua_getfield(L, -1, "id");
        if (lua_type(L, -1) == LUA_TSTRING) {
            lua_pushvalue(L, -1);
            lua_rawseti(L, base + 4, i);
            lua_pushinteger(L, i);
            lua_rawset(L, base + 5);
        } else {
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_createtable(L, 0, 5);                            // base+6: the new switches
    int fresh = base + 6;
    static const char *const kept[] = { "on", "since", "was_on" };
    int old_ids = 0;
    if (lua_istable(L, old)) {
        lua_pushliteral(L, "ids");
        if (lua_rawget(L, old) == LUA_TTABLE) old_ids = lua_gettop(L);
    }
    for (int k = 0; k < 3; k++) {
        lua_createtable(L, size, 0);
        int to = lua_gettop(L);
        if (old_ids) {
            lua_pushstring(L, kept[k]);
            lua_rawget(L, old);
            move_by_id(L, lua_gettop(L), to, old_ids, base + 5);
            lua_pop(L, 1);
        }
        lua_setfield(L, fresh, kept[k]);
    }
    lua_settop(L, fresh);
    lua_pushvalue(L, base + 4);
    lua_setfield(L, fresh, "ids");
    lua_pushvalue(L, base + 1);
    lua_setfield(L, fresh, "token");
    lua_pushliteral(L, "switches");
    lua_pushvalue(L, fresh);
    lua_rawset(L, memory);
    lua_replace(L, base + 1);
    lua_settop(L, base + 1);
}

// fusebox.switches(site, memory): memory.switches, by this configuration's
// charger indices.
int native_switches(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    push_switches(L, 1, 2);
    return 1;
}

// fusebox.record_switches(site, memory, given): after this cycle's allocation
// ({ [id] = amps }), for every charger: on when given more than 0; `since`
// becomes site.time when that changed (or the charger is new), and `was_on`
// what it was before; a free charger is forgotten. Returns memory.switches.
int native_record_switches(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
    luaL_checkstack(L, 12, "switches");
    push_switches(L, 1, 2);                               // 4
    lua_getfield(L, 4, "on");                             // 5
    lua_getfield(L, 4, "since");                          // 6
    lua_getfield(L, 4, "was_on");                         // 7
    lua_getfield(L, 4, "ids");                            // 8
    for (int k = 5; k <= 8; k++) {
        if (!lua_istable(L, k)) return luaL_error(L, "fusebox.record_switches: memory.switches was changed");
    }
    lua_getfield(L, 1, "time");
    int has_time = lua_isnumber(L, -1);
    lua_Number now = lua_tonumber(L, -1);
    lua_pop(L, 1);
    if (!has_time) return luaL_error(L, "fusebox.record_switches: site.time is not a number");
    lua_getfield(L, 1, "chargers");                       // 9
    lua_pushliteral(L, "free");                           // 10
    const details_block *details = current_details(L);
    lua_Integer n = (lua_Integer)lua_rawlen(L, 8);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 8, i);
        int given = lua_rawget(L, 3) != LUA_TNIL;
        int on = given && lua_isnumber(L, -1) && lua_tonumber(L, -1) > 0;
        lua_pop(L, 1);
        int was = lua_rawgeti(L, 5, i) != LUA_TNIL && lua_toboolean(L, -1);
        int seen = lua_rawgeti(L, 6, i) != LUA_TNIL;
        lua_pop(L, 2);
        if (!seen || was != on) {
            lua_pushnumber(L, now);
            lua_rawseti(L, 6, i);
            if (was) lua_pushboolean(L, 1); else lua_pushnil(L);
            lua_rawseti(L, 7, i);
        }
        if (was != on) {
            if (on) lua_pushboolean(L, 1); else lua_pushnil(L);
            lua_rawseti(L, 5, i);
        }
        // A charger given anything wants current, so it is not free.
        if (!given) {
            lua_geti(L, 9, i);
            const fb_charger_details *d = proxy_details(L, -1, details);
            int free;
            if (d) {
                free = d->status == FB_CHARGER_FREE;
            } else {
                lua_getfield(L, -1, "status");
                free = lua_rawequal(L, -1, 10);
                lua_pop(L, 1);
            }
            lua_pop(L, 1);
            if (free) {
                lua_pushnil(L);
                lua_rawseti(L, 6, i);
                lua_pushnil(L);
                lua_rawseti(L, 7, i);
            }
        }
    }
    lua_settop(L, 4);
    return 1;
}
