// fusebox.sort(list, key1 [, key2, key3, key4]): sorts `list` in place,
// ascending by key1[v], then key2[v], ..., then by v itself, for a list of
// numbers (charger indices) and tables of numeric keys. A Lua comparator
// costs a call into the VM per comparison; policies sort a group of chargers
// every cycle (priority: running cars first, then the longest waiting).

#include "ShimInternal.h"

#include <string.h>

#define SORT_MAX_KEYS 4

typedef struct {
    double key[SORT_MAX_KEYS];
    lua_Number value;
    lua_Integer integer;     // the value as it was, when it was an integer
    int is_integer;
} sort_entry;

// Keys a call does not use are 0 for every entry, so comparing all of them is
// the same as comparing the used ones.
static int entry_before(const sort_entry *a, const sort_entry *b) {
    for (int k = 0; k < SORT_MAX_KEYS; k++) {
        if (a->key[k] < b->key[k]) return 1;
        if (a->key[k] > b->key[k]) return 0;
    }
    return a->value < b->value;
}

FB_DEFINE_MERGE_SORT(merge_sort, sort_entry, entry_before)

int native_sort(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    int keys = lua_gettop(L) - 1;
    if (keys > SORT_MAX_KEYS) return luaL_error(L, "fusebox.sort: at most %d key tables, got %d", SORT_MAX_KEYS, keys);
    for (int k = 0; k < keys; k++) luaL_checktype(L, 2 + k, LUA_TTABLE);
    lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
    if (n < 2) return 0;
    if (n > (1 << 20)) return luaL_error(L, "fusebox.sort: list too long");
    // Scratch in a userdata: counted against the memory ceiling, freed by the collector.
    sort_entry *e = lua_newuserdatauv(L, (size_t)n * 2 * sizeof(sort_entry), 0);
    memset(e, 0, (size_t)n * sizeof(sort_entry));   // the unused keys
    for (lua_Integer j = 0; j < n; j++) {
        int ok = 0;
        lua_rawgeti(L, 1, j + 1);
        e[j].value = lua_tonumberx(L, -1, &ok);
        if (!ok || lua_type(L, -1) != LUA_TNUMBER) return luaL_error(L, "fusebox.sort: list[%d] is not a number", (int)(j + 1));
        e[j].is_integer = lua_isinteger(L, -1);
        e[j].integer = e[j].is_integer ? lua_tointeger(L, -1) : 0;
        for (int k = 0; k < keys; k++) {
            lua_pushvalue(L, -1);
            lua_rawget(L, 2 + k);
            e[j].key[k] = lua_tonumberx(L, -1, &ok);
            if (!ok || lua_type(L, -1) != LUA_TNUMBER) {
                return luaL_error(L, "fusebox.sort: key table %d has no number for %s", k + 1,
                                  luaL_tolstring(L, -2, NULL));
            }
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    merge_sort(e, e + n, (int)n);
    for (lua_Integer j = 0; j < n; j++) {
        if (e[j].is_integer) lua_pushinteger(L, e[j].integer);
        else lua_pushnumber(L, e[j].value);
        lua_rawseti(L, 1, j + 1);
    }
    return 0;
}
