/// Lua loaded into every policy's state before the policy itself: the global
/// `fusebox` table with the sharing math that the shipped policies use and that
/// site policies may use (docs/policies.md). It is plain Lua in the policy's own
/// sandbox, so a policy can read it, and it costs no crossing into Swift.
/// `fusebox.fill` is the same algorithm as the native `WaterFill`.
enum PolicyPrelude {
    static let chunkname = "fusebox_prelude.lua"
    static let source = #"""
local huge, max, min = math.huge, math.max, math.min
local eps = 1e-9
local fusebox = {}

-- Indices (into site.chargers) of the chargers that want current and may get it.
function fusebox.wanting(site)
  local out, n = {}, 0
  local chargers = site.chargers
  for i = 1, #chargers do
    local c = chargers[i]
    if c.eligible and (c.status == "charging" or c.status == "occupied") then
      n = n + 1
      out[n] = i
    end
  end
  return out
end

-- Does every charger in `list` fit at its minimum, together with `fixed`?
function fusebox.fits(site, list, fixed)
  local limits, chargers = site.limits, site.chargers
  local used = {}
  for k = 1, #limits do used[k] = 0 end
  if fixed then
    for i, amps in pairs(fixed) do
      local c = chargers[i]
      local ks, ws = c.limits, c.weights
      for j = 1, #ks do used[ks[j]] = used[ks[j]] + ws[j] * amps end
    end
  end
  for _, i in ipairs(list) do
    local c = chargers[i]
    local ks, ws = c.limits, c.weights
    for j = 1, #ks do
      local k = ks[j]
      used[k] = used[k] + ws[j] * c.min
      if used[k] > limits[k].available + eps then return false end
    end
  end
  return true
end

local function buckets(admitted, values)
  local by, keys = {}, {}
  for n = 1, #admitted do
    local i = admitted[n]
    local v = values[i]
    local b = by[v]
    if not b then b = {}; by[v] = b; keys[#keys + 1] = v end
    b[#b + 1] = i
  end
  table.sort(keys)
  return keys, by
end

-- Equal sharing under every limit in site.limits.
--   order: charger indices in the order they are admitted at their minimum;
--          who does not fit waits at 0.
--   opts.fixed:       { [index] = amps } already given, counted against the limits
--   opts.start_extra: { [index] = amps } more than min a charger must fit to start
--   opts.upper:       { [index] = amps } caps below the charger's max
-- Returns { [id] = amps } for every charger in `order`.
function fusebox.fill(site, order, opts)
  opts = opts or {}
  local chargers, limits = site.chargers, site.limits
  local nk = #limits
  local avail, used, slope = {}, {}, {}
  for k = 1, nk do avail[k] = limits[k].available; used[k] = 0; slope[k] = 0 end
  if opts.fixed then
    for i, amps in pairs(opts.fixed) do
      local c = chargers[i]
      local ks, ws = c.limits, c.weights
      for j = 1, #ks do used[ks[j]] = used[ks[j]] + ws[j] * amps end
    end
  end
  local extra, caps = opts.start_extra or {}, opts.upper or {}
  local lower, upper, a = {}, {}, {}
  local admitted = {}
  for _, i in ipairs(order) do
    local c = chargers[i]
    local lo, hi = c.min, min(c.max, caps[i] or huge)
    a[i] = 0
    if hi > 0 and hi >= lo then
      local ks, ws = c.limits, c.weights
      local need = lo + (extra[i] or 0)
      local ok = true
      for j = 1, #ks do
        local k = ks[j]
        if used[k] + ws[j] * need > avail[k] + eps then ok = false; break end
      end
      if ok then
        for j = 1, #ks do local k = ks[j]; used[k] = used[k] + ws[j] * lo end
        lower[i], upper[i], a[i] = lo, hi, lo
        admitted[#admitted + 1] = i
      end
    end
  end
  if #admitted > 0 then
    local lk, lb = buckets(admitted, lower)
    local uk, ub = buckets(admitted, upper)
    local li, ui, level = 1, 1, lk[1]
    local rising, nrising, frozen = {}, 0, {}
    local function stop(i)
      if rising[i] then
        rising[i] = nil
        nrising = nrising - 1
        local c = chargers[i]
        local ks, ws = c.limits, c.weights
        for j = 1, #ks do slope[ks[j]] = slope[ks[j]] - ws[j] end
      end
      frozen[i] = true
    end
    while true do
      while li <= #lk and lk[li] <= level + eps do
        local b = lb[lk[li]]
        for n = 1, #b do
          local i = b[n]
          if not frozen[i] and upper[i] > level + eps then
            rising[i] = true
            nrising = nrising + 1
            local c = chargers[i]
            local ks, ws = c.limits, c.weights
            for j = 1, #ks do slope[ks[j]] = slope[ks[j]] + ws[j] end
          end
        end
        li = li + 1
      end
      while ui <= #uk and uk[ui] <= level + eps do
        local b = ub[uk[ui]]
        for n = 1, #b do
          local i = b[n]
          if not frozen[i] then a[i] = upper[i]; stop(i) end
        end
        ui = ui + 1
      end
      for k = 1, nk do
        if slope[k] > eps and used[k] >= avail[k] - eps then
          local m = limits[k].members
          for j = 1, #m do
            local i = m[j]
            if rising[i] then a[i] = max(lower[i], min(level, upper[i])); stop(i) end
          end
        end
      end
      if nrising == 0 and li > #lk then break end
      local step = huge
      if li <= #lk then step = lk[li] - level end
      if ui <= #uk then step = min(step, uk[ui] - level) end
      for k = 1, nk do
        local s = slope[k]
        if s > eps then step = min(step, max(0, (avail[k] - used[k]) / s)) end
      end
      if step == huge then break end
      for k = 1, nk do
        local s = slope[k]
        if s ~= 0 then used[k] = used[k] + s * step end
      end
      level = level + step
    end
    for i in pairs(rising) do a[i] = level end
  end
  local out = {}
  for _, i in ipairs(order) do out[chargers[i].id] = a[i] end
  return out
end

-- A limit on the EV power of some chargers (all eligible ones when `indices` is nil),
-- in the shape of site.limits; return it as a stage's second result to narrow the
-- budget of the stages after it, or add it with fusebox.add_limit.
function fusebox.power_limit(site, name, watts, indices)
  local members, weights = {}, {}
  local chargers = site.chargers
  local function add(i)
    local c = chargers[i]
    if c.eligible then members[#members + 1] = i; weights[#weights + 1] = c.volts end
  end
  if indices then for _, i in ipairs(indices) do add(i) end
  else for i = 1, #chargers do add(i) end end
  return { name = name, unit = "W", available = watts, members = members, weights = weights }
end

-- Adds a limit to this stage's own view of the site (site.limits and each
-- member's limits/weights), so that fusebox.fill honours it.
function fusebox.add_limit(site, limit)
  local k = #site.limits + 1
  site.limits[k] = limit
  for j, i in ipairs(limit.members) do
    local c = site.chargers[i]
    c.limits[#c.limits + 1] = k
    c.weights[#c.weights + 1] = limit.weights[j]
  end
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
