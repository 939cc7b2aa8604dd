/// Lua loaded into every policy's state before the policy itself: the global
/// `fusebox` table (docs/policies.md). It is plain Lua in the policy's own
/// sandbox, under the policy's budget, but for two calls into the host:
/// `water_fill` and `sort_order` (Sources/CLuaShim/Sharing.c), which run
/// FuseboxCore's WaterFill and a sort in Swift. The prelude keeps them as
/// locals and takes them out of `fusebox`.
enum PolicyPrelude {
    static let chunkname = "fusebox_prelude.lua"
    static let source = #"""
local fusebox = _G.fusebox or {}
local water_fill, sort_order = fusebox.water_fill, fusebox.sort_order
fusebox.water_fill, fusebox.sort_order = nil, nil
local type, error, pairs, ipairs, tonumber, tostring, select = type, error, pairs, ipairs, tonumber, tostring, select
local math_type, format = math.type, string.format

local function fail(name, message, ...)
  error(name .. ": " .. format(message, ...), 3)
end

-- opts[field] = { [index] = amps } as a list by charger index (`default`
-- where absent); nil when there is no such map.
local function per_charger(n, map, default)
  if type(map) ~= "table" then return nil end
  local out = {}
  for i = 1, n do out[i] = default end
  for i, v in pairs(map) do
    local amps = tonumber(v)
    if amps and math_type(i) == "integer" and i >= 1 and i <= n then out[i] = amps end
  end
  return out
end

-- opts.start_extra: a map, or amps for every charger but those opts.running lists.
local function start_extra(n, opts)
  local extra = opts.start_extra
  if type(extra) ~= "number" then return per_charger(n, extra, 0) end
  local out = {}
  for i = 1, n do out[i] = extra end
  if type(opts.running) == "table" then
    for i, on in pairs(opts.running) do
      if on and math_type(i) == "integer" and i >= 1 and i <= n then out[i] = 0 end
    end
  end
  return out
end

-- Runs the host's fill on `groups` (lists of indices), reading the site's
-- chargers and limits as they are now; returns { [id] = amps } for every
-- charger listed, and whether every one was admitted (one group).
local function share(name, site, groups, opts, admit_only, group_name)
  if type(site) ~= "table" then fail(name, "site must be a table") end
  local chargers = site.chargers
  if type(chargers) ~= "table" then fail(name, "site.chargers must be a table") end
  local n = #chargers
  opts = type(opts) == "table" and opts or {}
  local order, group_start = {}, { 0 }
  for k = 1, #groups do
    local group = groups[k]
    if type(group) ~= "table" then fail(name, "%s[%d] is not a list", group_name, k) end
    for j = 1, #group do
      local i = group[j]
      if math_type(i) ~= "integer" or i < 1 or i > n then
        if math_type(i) == "float" and i == i // 1 and i >= 1 and i <= n then
          i = i // 1
        elseif group_name == "order" then
          fail(name, "order[%d] is not a charger index", j)
        else
          fail(name, "%s[%d][%d] is not a charger index", group_name, k, j)
        end
      end
      order[#order + 1] = i
    end
    group_start[k + 1] = #order
  end
  local hold = {}
  if type(opts.hold) == "table" then
    for j = 1, #opts.hold do
      local i = opts.hold[j]
      if math_type(i) ~= "integer" or i < 1 or i > n then fail(name, "opts.hold[%d] is not a charger index", j) end
      hold[j] = i
    end
  end
  local allocation, all_fit = water_fill(site, order, group_start, hold, per_charger(n, opts.fixed, 0),
    start_extra(n, opts), per_charger(n, opts.reserved, 0), per_charger(n, opts.upper, math.huge), admit_only)
  if admit_only then return nil, all_fit end
  local out = {}
  for j = 1, #order do
    local i = order[j]
    local c = chargers[i]
    local id = type(c) == "table" and c.id or nil
    if id ~= nil then out[id] = allocation[i] end
  end
  return out, all_fit
end

-- Equal sharing under every limit of site.limits (the fallback's algorithm):
-- the chargers of `order` are admitted at their minimum in turn while they
-- fit, then rise together. opts.fixed, opts.start_extra (with opts.running),
-- opts.upper: docs/policies.md. Returns { [id] = amps } for every one.
function fusebox.fill(site, order, opts)
  if type(order) ~= "table" then fail("fusebox.fill", "order must be a list of charger indices") end
  return (share("fusebox.fill", site, { order }, opts, false, "order"))
end

-- fill, and whether every charger of `order` was admitted, in one pass.
function fusebox.fill_and_fits(site, order, opts)
  if type(order) ~= "table" then fail("fusebox.fill_and_fits", "order must be a list of charger indices") end
  return share("fusebox.fill_and_fits", site, { order }, opts, false, "order")
end

-- Whether every charger of `list` fits at its minimum, with `fixed` given.
function fusebox.fits(site, list, fixed)
  if type(list) ~= "table" then fail("fusebox.fits", "list must be a list of charger indices") end
  local _, all_fit = share("fusebox.fits", site, { list }, { fixed = fixed }, true, "order")
  return all_fit
end

-- Each group shares what the groups before it left: opts.reserved, opts.hold,
-- opts.start_extra, opts.upper (docs/policies.md).
function fusebox.fill_in_turn(site, groups, opts)
  if type(groups) ~= "table" then fail("fusebox.fill_in_turn", "groups must be a list of lists") end
  return (share("fusebox.fill_in_turn", site, groups, opts, false, "groups"))
end

-- The chargers that want current and may get it: eligible, and "occupied" or "charging".
function fusebox.wanting(site)
  local out, chargers = {}, site.chargers
  for i = 1, #chargers do
    local c = chargers[i]
    if c.eligible and (c.status == "charging" or c.status == "occupied") then out[#out + 1] = i end
  end
  return out
end

-- A limit on the power of the eligible chargers among `indices` (all when
-- nil), each weighted by its volts, in the shape of site.limits.
function fusebox.power_limit(site, name, watts, indices)
  local members, weights, chargers = {}, {}, site.chargers
  local function add(i)
    local c = chargers[i]
    if c.eligible then members[#members + 1] = i; weights[#weights + 1] = c.volts end
  end
  if indices == nil then
    for i = 1, #chargers do add(i) end
  else
    for _, i in ipairs(indices) do add(i) end
  end
  return { name = name, unit = "W", available = watts, members = members, weights = weights }
end

-- Sorts `list` (numbers) in place, ascending by key1[v], then key2[v], ...
-- (up to four tables of numbers), then by v.
function fusebox.sort(list, ...)
  local name = "fusebox.sort"
  if type(list) ~= "table" then fail(name, "list must be a list of numbers") end
  local count = select("#", ...)
  if count > 4 then fail(name, "at most 4 key tables, got %d", count) end
  local key_tables = { ... }
  for k = 1, count do
    if type(key_tables[k]) ~= "table" then fail(name, "key table %d is not a table", k) end
  end
  local n = #list
  if n < 2 then return end
  local values, keys = {}, {}
  for j = 1, n do
    local v = list[j]
    if type(v) ~= "number" then fail(name, "list[%d] is not a number", j) end
    values[j] = v
    for k = 1, count do
      local key = key_tables[k][v]
      if type(key) ~= "number" then fail(name, "key table %d has no number for %s", k, tostring(v)) end
      keys[(j - 1) * count + k] = key
    end
  end
  local order = sort_order(keys, count, values)
  for j = 1, n do list[j] = values[order[j]] end
end

-- What a policy with start/stop hysteresis remembers, by charger index:
-- memory.switches = { on = { [i] = true }, since = { [i] = time },
-- was_on = { [i] = true }, ids = { [i] = id } }. When the chargers are not
-- those of `ids` (a new configuration, a hot reload), each entry moves to its
-- charger's new index by id, and a charger that is gone is forgotten.
function fusebox.switches(site, memory)
  local chargers = site.chargers
  local n = #chargers
  local s = memory.switches
  if type(s) ~= "table" or type(s.on) ~= "table" or type(s.since) ~= "table"
     or type(s.was_on) ~= "table" or type(s.ids) ~= "table" then
    s = { on = {}, since = {}, was_on = {}, ids = {} }
  end
  local same = #s.ids == n
  for i = 1, n do
    if not same then break end
    same = s.ids[i] == chargers[i].id
  end
  if not same then
    local new_index = {}
    for i = 1, n do new_index[chargers[i].id] = i end
    local moved = { on = {}, since = {}, was_on = {}, ids = {} }
    for _, field in ipairs({ "on", "since", "was_on" }) do
      for old, value in pairs(s[field]) do
        local i = new_index[s.ids[old]]
        if i then moved[field][i] = value end
      end
    end
    for i = 1, n do moved.ids[i] = chargers[i].id end
    s = moved
  end
  memory.switches = s
  return s
end

-- After the allocation `given` ({ [id] = amps }), for every charger: `on`
-- when given more than 0; `since` becomes site.time when that changed (or the
-- charger is new) and `was_on` what it was before; a "free" charger given
-- nothing is forgotten. Returns memory.switches.
function fusebox.record_switches(site, memory, given)
  local name = "fusebox.record_switches"
  if type(given) ~= "table" then fail(name, "given must be a table { [id] = amps }") end
  local now = site.time
  if type(now) ~= "number" then fail(name, "site.time is not a number") end
  local s = fusebox.switches(site, memory)
  local on, since, was_on, chargers = s.on, s.since, s.was_on, site.chargers
  for i = 1, #chargers do
    local c = chargers[i]
    local amps = given[c.id]
    local running = type(amps) == "number" and amps > 0
    local was = on[i] or false
    if since[i] == nil or was ~= running then
      since[i] = now
      was_on[i] = was or nil
    end
    on[i] = running or nil
    if amps == nil and c.status == "free" then since[i], was_on[i] = nil, nil end
  end
  return s
end

-- Adds a limit to this call's own site.limits, so that fill and fits honour it.
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
