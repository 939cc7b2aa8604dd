/// Lua loaded into every policy's state before the policy itself: the rest of
/// the global `fusebox` table, whose sharing math (fill, fits, wanting, ...) the
/// shim puts there natively (docs/policies.md). What is here is plain Lua in
/// the policy's own sandbox; the comments list the native part.
enum PolicyPrelude {
    static let chunkname = "fusebox_prelude.lua"
    static let source = #"""
local fusebox = _G.fusebox or {}

-- fusebox.wanting(site) is native (Sources/CLuaShim/Fill.c): the indices (into
-- site.chargers) of the chargers that want current and may get it: eligible,
-- and "occupied" or "charging".

-- fusebox.fill(site, order, opts) and fusebox.fits(site, list, fixed) are
-- native (Sources/CLuaShim/Fill.c): equal sharing under every limit in site.limits.
--   order: charger indices in the order they are admitted at their minimum;
--          who does not fit waits at 0.
--   opts.fixed:       { [index] = amps } already given, counted against the limits
--   opts.start_extra: { [index] = amps } more than min a charger must fit to start,
--                     or amps for all but those opts.running = { [index] = true } lists
--   opts.upper:       { [index] = amps } caps below the charger's max
-- fill returns { [id] = amps } for every charger in `order`; fits tells whether
-- every charger in `list` fits at its minimum (with `fixed` already given).
-- fusebox.fill_and_fits(site, order, opts) is fill with a second result: whether
-- every charger of `order` was admitted (fits and fill in one pass).
-- fusebox.fill_in_turn(site, groups, opts): each group (a list of indices) shares
-- what the groups before it left; opts.reserved = { [i] = amps } counts until
-- i's own group is served; opts.hold = { i, ... } holds each one's minimum the
-- same way, those that fit in turn, and admits them first in their group.
-- fusebox.switches(site, memory) and fusebox.record_switches(site, memory, given)
-- (Sources/CLuaShim/Switches.c): by charger index, whether each charger gets
-- current, since when, and whether its last switch was off (memory.switches).
-- fusebox.sort(list, key1, ...) (Sources/CLuaShim/Sort.c) sorts a list of numbers
-- in place by key1[v], then key2[v] (up to four tables of numbers), then v.

-- fusebox.power_limit(site, name, watts, indices) is native (Fill.c): a limit on
-- the EV power of the eligible chargers among `indices` (all when nil), weighted
-- by their volts, in the shape of site.limits; return it as a stage's second
-- result to narrow the budget of the stages after it, or add it with
-- fusebox.add_limit.

-- Adds a limit to this stage's own view of the site (site.limits is this
-- call's own table), so that fusebox.fill and fusebox.fits honour it.
function fusebox.add_limit(site, limit)
  local k = #site.limits + 1
  site.limits[k] = limit
  return k
end

-- The chargers of site.chargers by id.
function fusebox.by_id(site)
  local out = {}
  for i, c in ipairs(site.chargers) do out[c.id] = i end
  return out
end

_G.fusebox = fusebox
return fusebox
"""#
}
