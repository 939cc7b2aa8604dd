#include "ShimInternal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// MARK: - fusebox.fill and fusebox.fits, native

// Equal sharing under the site's linear limits, for policies: the same algorithm
// as FuseboxCore's WaterFill (see there and docs/policies.md). It reads the Lua
// tables it is given (fields through metatables, as policies see them) and
// keeps its scratch arrays in a userdata, so the memory ceiling covers them and
// an error in the middle leaves nothing behind.

typedef struct { double value; int index; } keyed;

static int keyed_before(const keyed *x, const keyed *y) {
    return x->value < y->value || (x->value == y->value && x->index < y->index);
}

FB_DEFINE_MERGE_SORT(merge_keyed, keyed, keyed_before)

// Sorts by value, then index. The lists fill sorts (the admitted chargers'
// minimums and maximums) are mostly in order already and hold few distinct
// values, so it first looks whether there is anything to do.
static void sort_keyed(keyed *a, keyed *tmp, int n) {
    for (int i = 1; i < n; i++) {
        if (keyed_before(&a[i], &a[i - 1])) {
            merge_keyed(a, tmp, n);
            return;
        }
    }
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
    keyed *joins, *leaves, *sort_scratch;
    int admitted_count;
} fill_state;

enum { FLAG_ADMITTED = 1, FLAG_RISING = 2, FLAG_FROZEN = 4, FLAG_IN_ORDER = 8, FLAG_HELD = 16 };

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

// Builds the static block for limits 1..nk and pushes it. With a `base` block
// (at stack index `base_index`, the site's own first base->nk limits), what it
// holds is copied instead of read again, and only the limits after it (added
// by this stage) are read: a stage that adds a limit (pv_surplus) still gets
// the site's part from the cache.
static fill_static_header *build_static(lua_State *L, fill_state *f, int limits, int chargers, int n, int nk,
                                        lua_Integer tag, int base_index) {
    const fill_static_header *base = base_index ? lua_touserdata(L, base_index) : NULL;
    fill_state from;
    int base_nk = 0, base_nnz = 0;
    if (base) {
        fill_static_layout(&from, (fill_static_header *)base);
        base_nk = base->nk;
        base_nnz = base->nnz;
    }
    int nnz = base_nnz;
    for (int k = base_nk + 1; k <= nk; k++) {
        lua_rawgeti(L, limits, k);
        if (!lua_istable(L, -1)) luaL_error(L, "fusebox.fill: site.limits[%d] is not a table", k);
        lua_getfield(L, -1, "members");
        if (!lua_istable(L, -1)) luaL_error(L, "fusebox.fill: site.limits[%d].members is not a table", k);
        nnz += (int)lua_rawlen(L, -1);
        lua_pop(L, 2);
    }
    size_t bytes = fill_static_size(n, nk, nnz);
    fill_static_header *header = lua_newuserdatauv(L, bytes, 1);   // freed by the collector
    int block = lua_gettop(L);
    memset(header, 0, bytes);
    header->structure = tag;
    header->n = n; header->nk = nk; header->nnz = nnz;
    fill_static_layout(f, header);
    if (base) {
        memcpy(f->limit_start, from.limit_start, (size_t)base_nk * sizeof(int));
        memcpy(f->limit_member, from.limit_member, (size_t)base_nnz * sizeof(int));
        memcpy(f->limit_weight, from.limit_weight, (size_t)base_nnz * sizeof(double));
        memcpy(f->watts, from.watts, (size_t)base_nk);
        for (int t = 0; t < base_nnz; t++) f->start[f->limit_member[t] + 1] += 1;
    }
    int at = base_nnz;
    for (int k = base_nk; k < nk; k++) {
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
    // Weights: the base's are copied (its caller has read those in watts for
    // this call already); the added limits' are read.
    for (int t = 0; t < base_nnz; t++) f->touch_w[f->touch_of[t]] = f->limit_weight[t];
    for (int k = base_nk; k < nk; k++) {
        lua_rawgeti(L, limits, k + 1);
        fill_read_weights(L, lua_gettop(L), k, f);
        lua_pop(L, 1);
    }
    if (base) {
        memcpy(f->lower, from.lower, (size_t)n * sizeof(double));
        lua_getiuservalue(L, base_index, 1);
        lua_setiuservalue(L, block, 1);
        return header;
    }
    // The chargers' ids, for fill's result: its user value.
    lua_createtable(L, n, 0);
    int ids = lua_gettop(L);
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, chargers, i + 1);
        int charger = lua_gettop(L);
        int is_table = lua_istable(L, charger);
        f->lower[i] = is_table ? number_field(L, charger, "min", 6) : 6;
        if (is_table) {
            lua_getfield(L, charger, "id");
            lua_rawseti(L, ids, i + 1);
        }
        lua_pop(L, 1);
    }
    lua_setiuservalue(L, block, 1);
    return header;
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

    // The site's own limits (the first structure_limits) are cached per
    // structure; limits a stage added after them are read on every call.
    int cacheable = has_structure && site_limits >= 0 && site_limits <= nk;
    int base_nk = cacheable ? (int)site_limits : nk;
    fill_static_header *header = NULL;
    if (cacheable && lua_rawgetp(L, LUA_REGISTRYINDEX, &fill_cache_key) == LUA_TUSERDATA) {
        fill_static_header *cached = lua_touserdata(L, -1);
        if (cached->structure == structure && cached->n == n && cached->nk == base_nk) header = cached;
    }
    if (!header) {
        lua_settop(L, limits);
        header = build_static(L, f, limits, chargers, n, base_nk, cacheable ? structure : -1, 0);
        if (cacheable) {
            lua_pushvalue(L, -1);
            lua_rawsetp(L, LUA_REGISTRYINDEX, &fill_cache_key);
        }
    } else {
        fill_static_layout(f, header);
        // Weights in watts follow the voltage: read them every call.
        for (int k = 0; k < base_nk; k++) {
            if (!f->watts[k]) continue;
            lua_rawgeti(L, limits, k + 1);
            fill_read_weights(L, lua_gettop(L), k, f);
            lua_pop(L, 1);
        }
    }
    if (nk > base_nk) header = build_static(L, f, limits, chargers, n, nk, -1, lua_gettop(L));
    f->n = n; f->nk = nk; f->nnz = header->nnz;
    int static_block = lua_gettop(L);   // keeps the static block alive during the call

    size_t bytes = 0;
    bytes += (size_t)nk * 3 * sizeof(double) + (size_t)n * 3 * sizeof(double);
    bytes += (size_t)n * 2 * sizeof(int) + (size_t)n * 3 * sizeof(keyed) + 64;
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
    f->sort_scratch = (keyed *)carve(&p, (size_t)n * sizeof(keyed));
    int scratch = lua_gettop(L);

    for (int k = 0; k < nk; k++) {
        lua_rawgeti(L, limits, k + 1);
        f->available[k] = lua_istable(L, -1) ? number_field(L, lua_gettop(L), "available", 0) : 0;
        lua_pop(L, 1);
    }
    const details_block *details = current_details(L);
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, chargers, i + 1);
        const fb_charger_details *d = proxy_details(L, -1, details);
        f->upper[i] = d ? d->max : lua_istable(L, -1) ? number_field(L, lua_gettop(L), "max", 0) : 0;
        lua_pop(L, 1);
    }
    // Leave exactly: static block, scratch block, site.chargers.
    lua_pushvalue(L, static_block);
    lua_pushvalue(L, scratch);
    lua_pushvalue(L, chargers);
    lua_rotate(L, base + 1, 3);
    lua_settop(L, base + 3);
}

typedef enum { MAP_INTO, MAP_CAP_UPPER, MAP_COUNT_USED } map_use;

static void touch_used(fill_state *f, int i, double amps);

// opts[name] = { [index] = amps }: into `into`, as a cap on `upper`, or counted
// against the limits (fixed amps).
static void fill_read_map(lua_State *L, int opts, const char *name, fill_state *f, double *into, map_use use) {
    if (!lua_istable(L, opts)) return;
    lua_getfield(L, opts, name);
    if (lua_istable(L, -1)) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            int ok = 0;
            lua_Integer i = lua_isinteger(L, -2) ? lua_tointeger(L, -2) : 0;
            double v = lua_tonumberx(L, -1, &ok);
            if (ok && i >= 1 && i <= f->n) {
                switch (use) {
                    case MAP_INTO: into[i - 1] = v; break;
                    case MAP_CAP_UPPER: if (v < f->upper[i - 1]) f->upper[i - 1] = v; break;
                    case MAP_COUNT_USED: touch_used(f, (int)i - 1, v); break;
                }
            }
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
}

// opts.start_extra: a map as above, or a number for every charger but those
// opts.running lists ({ [i] = true }): the cars that run already need no
// margin to go on. One number saves a policy a table of every waiting car.
static void fill_read_start_extra(lua_State *L, int opts, fill_state *f) {
    if (!lua_istable(L, opts)) return;
    lua_getfield(L, opts, "start_extra");
    if (lua_type(L, -1) != LUA_TNUMBER) {
        lua_pop(L, 1);
        fill_read_map(L, opts, "start_extra", f, f->extra, MAP_INTO);
        return;
    }
    double v = lua_tonumber(L, -1);
    for (int i = 0; i < f->n; i++) f->extra[i] = v;
    lua_getfield(L, opts, "running");
    if (lua_istable(L, -1)) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            lua_Integer i = lua_isinteger(L, -2) ? lua_tointeger(L, -2) : 0;
            if (lua_toboolean(L, -1) && i >= 1 && i <= f->n) f->extra[i - 1] = 0;
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 2);
}

static void touch_used(fill_state *f, int i, double amps) {
    for (int t = f->start[i]; t < f->start[i + 1]; t++) f->used[f->touch_k[t]] += f->touch_w[t] * amps;
}

// Whether charger i fits at its minimum plus `extra` with what is used so far.
static int fits_at_min(const fill_state *f, int i, double extra) {
    const double eps = 1e-9;
    double lo = f->lower[i], hi = f->upper[i];
    if (!(hi > 0 && hi >= lo)) return 0;
    for (int t = f->start[i]; t < f->start[i + 1]; t++) {
        int k = f->touch_k[t];
        if (f->used[k] + f->touch_w[t] * (lo + extra) > f->available[k] + eps) return 0;
    }
    return 1;
}

// The charger index list[j] (0-based), or an error naming `what`.
static int index_at(lua_State *L, int list, int j, const fill_state *f, const char *what) {
    lua_rawgeti(L, list, j);
    int ok = 0;
    lua_Integer one = lua_tointegerx(L, -1, &ok);
    lua_pop(L, 1);
    if (!ok || one < 1 || one > f->n) return luaL_error(L, "%s[%d] is not a charger index", what, j);
    return (int)one - 1;
}

// Admits the chargers of `order` in turn at their minimum while they fit; with
// `held_first`, those flagged FLAG_HELD before the others (fill_in_turn).
static int fill_admit_held(lua_State *L, int order, fill_state *f, int *all_fit, int held_first) {
    int count = (int)lua_rawlen(L, order);
    *all_fit = 1;
    f->admitted_count = 0;
    for (int pass = held_first ? 0 : 1; pass < 2; pass++) {
        for (int j = 1; j <= count; j++) {
            int i = index_at(L, order, j, f, "fusebox.fill: order");
            if (f->flags[i] & FLAG_IN_ORDER) continue;
            if (pass == 0 && !(f->flags[i] & FLAG_HELD)) continue;
            f->flags[i] |= FLAG_IN_ORDER;
            if (!fits_at_min(f, i, f->extra[i])) { *all_fit = 0; continue; }
            touch_used(f, i, f->lower[i]);
            f->alloc[i] = f->lower[i];
            f->flags[i] |= FLAG_ADMITTED;
            f->admitted[f->admitted_count++] = i;
        }
    }
    return 0;
}

static int fill_admit(lua_State *L, int order, fill_state *f, int *all_fit) {
    return fill_admit_held(L, order, f, all_fit, 0);
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
    sort_keyed(f->joins, f->sort_scratch, m);
    sort_keyed(f->leaves, f->sort_scratch, m);
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
    lua_settop(L, 3);
    fill_read(L, 1, f);   // pushes the static block (4), the scratch (5) and site.chargers (6)
    // Fixed amps count against the limits before anyone is admitted.
    fill_read_map(L, 3, "fixed", f, NULL, MAP_COUNT_USED);
    fill_read_start_extra(L, 3, f);
    fill_read_map(L, 3, "upper", f, NULL, MAP_CAP_UPPER);
}

// Pushes { [id] = amps } for every charger of the order (argument 2).
static void push_fill_result(lua_State *L, const fill_state *f) {
    lua_getiuservalue(L, 4, 1);   // the ids, read with the static block
    int ids = lua_gettop(L);
    lua_createtable(L, 0, (int)lua_rawlen(L, 2));
    int out = lua_gettop(L);
    for (int i = 0; i < f->n; i++) {
        if (!(f->flags[i] & FLAG_IN_ORDER)) continue;
        if (lua_rawgeti(L, ids, i + 1) == LUA_TNIL) { lua_pop(L, 1); continue; }
        lua_pushnumber(L, f->alloc[i]);
        lua_rawset(L, out);
    }
    lua_remove(L, ids);
}

// Fills and pushes the result; returns whether every charger of the order was admitted.
static int fill_and_push(lua_State *L) {
    fill_state f;
    fill_prepare(L, &f);
    int all_fit;
    fill_admit(L, 2, &f, &all_fit);
    fill_rise(&f);
    push_fill_result(L, &f);
    return all_fit;
}

int native_fill(lua_State *L) {
    fill_and_push(L);
    return 1;
}

// fusebox.fill_and_fits: as fill, and a second result: whether every charger
// of `order` was admitted, which is what fits(site, order) would have said.
// One pass instead of two for policies that ask fits first (fair_share).
int native_fill_and_fits(lua_State *L) {
    lua_pushboolean(L, fill_and_push(L));
    return 2;
}

// fusebox.fill_in_turn(site, groups, opts): each group of `groups` (lists of
// charger indices) shares, as fill does, what the groups before it left.
// opts.reserved = { [i] = amps } counts against the limits until i's own group
// is served; opts.hold = { i, ... } holds each one's minimum the same way when
// it fits, in turn, and admits it first in its group; opts.start_extra and
// opts.upper as for fill. Returns
// { [id] = amps } for every charger of every group. The same as one fill per
// group with the amps given so far as `fixed`, in one pass over the site.
int native_fill_in_turn(lua_State *L) {
    fill_state f;
    fill_prepare(L, &f);   // site (1), groups (2), opts (3); then 4, 5, 6
    double *reserved = lua_newuserdatauv(L, (size_t)(f.n > 0 ? f.n : 1) * sizeof(double), 0);
    memset(reserved, 0, (size_t)(f.n > 0 ? f.n : 1) * sizeof(double));
    fill_read_map(L, 3, "reserved", &f, reserved, MAP_INTO);
    for (int i = 0; i < f.n; i++) if (reserved[i] != 0) touch_used(&f, i, reserved[i]);
    // opts.hold: in turn, each charger whose minimum still fits is held at
    // it, as reserved, and admitted first in its own group.
    int held_any = 0;
    if (lua_istable(L, 3) && lua_getfield(L, 3, "hold") == LUA_TTABLE) {
        int hold = lua_gettop(L);
        int count = (int)lua_rawlen(L, hold);
        for (int j = 1; j <= count; j++) {
            int i = index_at(L, hold, j, &f, "fusebox.fill_in_turn: opts.hold");
            if ((f.flags[i] & FLAG_HELD) || !fits_at_min(&f, i, 0)) continue;
            f.flags[i] |= FLAG_HELD;
            reserved[i] += f.lower[i];
            touch_used(&f, i, f.lower[i]);
            held_any = 1;
        }
    }
    lua_settop(L, 7);   // the reservations
    int count = (int)lua_rawlen(L, 2);
    for (int g = 1; g <= count; g++) {
        if (lua_rawgeti(L, 2, g) != LUA_TTABLE) return luaL_error(L, "fusebox.fill_in_turn: groups[%d] is not a list", g);
        int group = lua_gettop(L);
        int members = (int)lua_rawlen(L, group);
        char what[48];
        snprintf(what, sizeof what, "fusebox.fill_in_turn: groups[%d]", g);
        for (int j = 1; j <= members; j++) {   // this group's own reservations are released
            int i = index_at(L, group, j, &f, what);
            if (reserved[i] != 0) {
                touch_used(&f, i, -reserved[i]);
                reserved[i] = 0;
            }
        }
        memset(f.slope, 0, (size_t)f.nk * sizeof(double));
        int all_fit;
        fill_admit_held(L, group, &f, &all_fit, held_any);
        fill_rise(&f);
        // What this group got is fixed for the groups after it. (A rise ends
        // with every charger frozen at its max or a limit; this holds it
        // should a max ever be infinite.)
        for (int x = 0; x < f.admitted_count; x++) {
            int i = f.admitted[x];
            f.flags[i] = (f.flags[i] & ~FLAG_RISING) | FLAG_FROZEN;
        }
        lua_settop(L, group - 1);
    }
    lua_settop(L, 6);
    push_fill_result(L, &f);
    return 1;
}

// fusebox.wanting(site): indices of the chargers that want current and may get
// it (eligible, and occupied or charging). Reads what the same loop in Lua
// would (through metamethods unless the charger is an empty proxy); native
// because every policy starts with it.
int native_wanting(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_getfield(L, 1, "chargers");
    lua_Integer n = luaL_len(L, 2);
    lua_pushliteral(L, "charging");
    lua_pushliteral(L, "occupied");
    lua_createtable(L, n > 0 && n < (1 << 20) ? (int)n : 0, 0);
    lua_Integer count = 0;
    const details_block *details = current_details(L);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 2, i);
        const fb_charger_details *d = proxy_details(L, 6, details);
        int wants;
        if (d) {
            wants = d->eligible && (d->status == FB_CHARGER_CHARGING || d->status == FB_CHARGER_OCCUPIED);
        } else {
            lua_getfield(L, 6, "eligible");
            wants = lua_toboolean(L, -1);
            if (wants) {
                lua_getfield(L, 6, "status");
                wants = lua_rawequal(L, -1, 3) || lua_rawequal(L, -1, 4);
            }
        }
        lua_settop(L, 5);
        if (wants) {
            lua_pushinteger(L, i);
            lua_rawseti(L, 5, ++count);
        }
    }
    return 1;
}

// fusebox.power_limit(site, name, watts, indices): a limit on the EV power of
// the eligible chargers among `indices` (all when nil), each weighted by its
// volts, in the shape of site.limits. As the same loop in Lua: fields as a
// script reads them (see native_wanting), `indices` read as ipairs would.
int native_power_limit(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 4);
    lua_getfield(L, 1, "chargers");                 // 5
    int all = lua_isnil(L, 4);
    lua_Integer n = all ? luaL_len(L, 5) : 0;
    lua_createtable(L, 0, 5);                       // 6: the limit
    lua_pushvalue(L, 2);
    lua_setfield(L, 6, "name");
    lua_pushliteral(L, "W");
    lua_setfield(L, 6, "unit");
    lua_pushvalue(L, 3);
    lua_setfield(L, 6, "available");
    lua_createtable(L, n > 0 && n < (1 << 20) ? (int)n : 0, 0);   // 7: members
    lua_createtable(L, n > 0 && n < (1 << 20) ? (int)n : 0, 0);   // 8: weights
    lua_Integer count = 0;
    const details_block *details = current_details(L);
    for (lua_Integer j = 1; all ? j <= n : 1; j++) {
        if (all) {
            lua_geti(L, 5, j);
        } else {
            if (lua_geti(L, 4, j) == LUA_TNIL) break;
            lua_gettable(L, 5);                     // chargers[indices[j]]
        }
        const fb_charger_details *d = proxy_details(L, -1, details);
        if (d ? d->eligible : (lua_getfield(L, -1, "eligible"), lua_toboolean(L, -1))) {
            count++;
            if (all) lua_pushinteger(L, j);
            else lua_geti(L, 4, j);
            lua_rawseti(L, 7, count);
            if (d) lua_pushnumber(L, d->volts);
            else lua_getfield(L, 9, "volts");
            lua_rawseti(L, 8, count);
        }
        lua_settop(L, 8);
    }
    lua_settop(L, 8);   // the nil that ended `indices`
    lua_setfield(L, 6, "weights");
    lua_setfield(L, 6, "members");
    return 1;
}

int native_fits(lua_State *L) {
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
