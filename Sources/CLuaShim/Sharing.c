// The trampolines of the sharing helpers: Lua tables in, the host's Swift code
// (fb_host_fill, fb_host_sort), Lua lists out. Here the site and the lists the
// policy prelude made of a call's arguments are copied into C arrays (naming
// what is not as expected), handed to Swift and the result copied back.
// Swift never raises: an error is raised here, after it has returned.

#include "ShimInternal.h"

#include <float.h>

// Longer lists than this are refused (a site has at most some thousand chargers).
#define FB_MAX_LIST (1 << 22)

// A scratch list in a userdata, left on the stack so that the collector keeps
// it for the call and the memory ceiling counts it.
static double *new_numbers(lua_State *L, size_t count) {
    luaL_checkstack(L, 2, "fusebox");
    return lua_newuserdatauv(L, (count ? count : 1) * sizeof(double), 0);
}

// Copies the list at stack index `idx` (nil: an empty list) into new_numbers.
static fb_numbers numbers(lua_State *L, int idx, const char *what) {
    fb_numbers list = {NULL, 0};
    if (lua_isnoneornil(L, idx)) return list;
    if (!lua_istable(L, idx)) luaL_error(L, "fusebox: %s is not a list", what);
    lua_Unsigned n = lua_rawlen(L, idx);
    if (n > FB_MAX_LIST) luaL_error(L, "fusebox: %s is too long", what);
    double *values = new_numbers(L, (size_t)n);
    for (lua_Unsigned j = 0; j < n; j++) {
        int ok = 0;
        lua_rawgeti(L, idx, (lua_Integer)j + 1);
        values[j] = lua_tonumberx(L, -1, &ok);
        if (!ok || lua_type(L, -1) != LUA_TNUMBER) luaL_error(L, "fusebox: %s[%d] is not a number", what, (int)j + 1);
        lua_pop(L, 1);
    }
    list.values = values;
    list.count = (size_t)n;
    return list;
}

static void push_numbers(lua_State *L, const double *values, size_t count) {
    lua_createtable(L, (int)count, 0);
    for (size_t j = 0; j < count; j++) {
        lua_pushnumber(L, values[j]);
        lua_rawseti(L, -2, (lua_Integer)j + 1);
    }
}

// Reads number field `key` of the table at `idx` (through metamethods, as a
// script reads it); `fallback` when it is no number.
static double number_field(lua_State *L, int idx, const char *key, double fallback) {
    lua_getfield(L, idx, key);
    int ok = 0;
    double v = lua_tonumberx(L, -1, &ok);
    lua_pop(L, 1);
    return ok ? v : fallback;
}

// The site as fb_fill_request wants it: each charger's min and max, each
// limit's available, members and weights. The userdata stay on the stack.
static void gather_site(lua_State *L, int site, fb_fill_request *r) {
    luaL_checkstack(L, 16, "fusebox");
    if (lua_getfield(L, site, "chargers") != LUA_TTABLE) luaL_error(L, "fusebox: site.chargers must be a table");
    int chargers = lua_gettop(L);
    if (lua_getfield(L, site, "limits") != LUA_TTABLE) luaL_error(L, "fusebox: site.limits must be a table");
    int limits = lua_gettop(L);
    size_t n = (size_t)lua_rawlen(L, chargers), nk = (size_t)lua_rawlen(L, limits);
    if (n > FB_MAX_LIST || nk > FB_MAX_LIST) luaL_error(L, "fusebox: too many chargers or limits");
    double *lower = new_numbers(L, n), *upper = new_numbers(L, n);
    for (size_t i = 0; i < n; i++) {
        int is_table = lua_rawgeti(L, chargers, (lua_Integer)i + 1) == LUA_TTABLE;
        lower[i] = is_table ? number_field(L, -1, "min", 6) : 6;
        upper[i] = is_table ? number_field(L, -1, "max", 0) : 0;
        lua_pop(L, 1);
    }
    // Every limit's members and weights in one list, limit after limit.
    size_t nnz = 0;
    for (size_t k = 1; k <= nk; k++) {
        if (lua_rawgeti(L, limits, (lua_Integer)k) != LUA_TTABLE) luaL_error(L, "fusebox: site.limits[%d] is not a table", (int)k);
        if (lua_getfield(L, -1, "members") != LUA_TTABLE) luaL_error(L, "fusebox: site.limits[%d].members is not a table", (int)k);
        nnz += (size_t)lua_rawlen(L, -1);
        lua_pop(L, 2);
        if (nnz > FB_MAX_LIST) luaL_error(L, "fusebox: site.limits has too many members");
    }
    double *available = new_numbers(L, nk), *start = new_numbers(L, nk + 1);
    double *members = new_numbers(L, nnz), *weights = new_numbers(L, nnz);
    size_t at = 0;
    start[0] = 0;
    for (size_t k = 1; k <= nk; k++) {
        lua_rawgeti(L, limits, (lua_Integer)k);
        int limit = lua_gettop(L);
        available[k - 1] = number_field(L, limit, "available", 0);
        lua_getfield(L, limit, "members");
        int has_weights = lua_getfield(L, limit, "weights") == LUA_TTABLE;
        size_t count = (size_t)lua_rawlen(L, limit + 1);
        for (size_t j = 1; j <= count && at < nnz; j++, at++) {
            int ok = 0;
            lua_rawgeti(L, limit + 1, (lua_Integer)j);
            lua_Integer i = lua_tointegerx(L, -1, &ok);
            if (!ok || i < 1 || (size_t)i > n)
                luaL_error(L, "fusebox: site.limits[%d].members[%d] is not a charger index", (int)k, (int)j);
            members[at] = (double)i;
            double w = 1;
            if (has_weights) {
                lua_rawgeti(L, limit + 2, (lua_Integer)j);
                w = lua_tonumberx(L, -1, &ok);
                if (!ok || !(w >= 0 && w <= DBL_MAX))
                    luaL_error(L, "fusebox: site.limits[%d].weights[%d] must be a finite number >= 0", (int)k, (int)j);
            }
            weights[at] = w;
            lua_settop(L, limit + 2);
        }
        start[k] = (double)at;
        lua_settop(L, limit - 1);
    }
    r->lower = (fb_numbers){lower, n};
    r->upper = (fb_numbers){upper, n};
    r->available = (fb_numbers){available, nk};
    r->limit_start = (fb_numbers){start, nk + 1};
    r->members = (fb_numbers){members, at};
    r->weights = (fb_numbers){weights, at};
}

// water_fill(site, order, group_start, hold, fixed, extra, reserved, caps,
// admit_only) -> allocation (a list by charger index), all_fit. The prelude
// checks the lists; the site is read here.
int fb_lua_water_fill(lua_State *L) {
    lua_settop(L, 9);
    luaL_checktype(L, 1, LUA_TTABLE);
    fb_fill_request r = {0};
    r.order = numbers(L, 2, "order");
    r.group_start = numbers(L, 3, "group_start");
    r.hold = numbers(L, 4, "hold");
    r.fixed = numbers(L, 5, "fixed");
    r.extra = numbers(L, 6, "extra");
    r.reserved = numbers(L, 7, "reserved");
    r.caps = numbers(L, 8, "caps");
    r.admit_only = lua_toboolean(L, 9);
    gather_site(L, 1, &r);
    size_t n = r.lower.count;
    r.allocation = new_numbers(L, n);
    if (fb_host_fill(&r) != 0) return luaL_error(L, "fusebox: a min, max or amount is not a finite number");
    push_numbers(L, r.allocation, n);
    lua_pushboolean(L, r.all_fit);
    return 2;
}

// sort_order(keys, key_count, values) -> the permutation that sorts values
int fb_lua_sort_order(lua_State *L) {
    lua_settop(L, 3);
    fb_sort_request r = {0};
    r.keys = numbers(L, 1, "keys");
    r.key_count = (int)luaL_checkinteger(L, 2);
    r.values = numbers(L, 3, "values");
    size_t n = r.values.count;
    r.order = new_numbers(L, n);
    if (fb_host_sort(&r) != 0) return luaL_error(L, "fusebox: the lists of a sort do not fit together");
    push_numbers(L, r.order, n);
    return 1;
}
