-- priority: higher priority first, then a fair share within each priority.
--
-- Cars are served in descending `priority` (set per charger in site.yaml); all
-- the cars of one priority share equally (as fair_share) what the higher ones
-- left. Hysteresis keeps cars from flapping when the budget hovers around what
-- one more car needs:
--   * a car that started is kept for at least `min_on` seconds while it still
--     fits at its minimum, even against a higher priority that arrives later;
--   * a car that was paused stays paused for at least `min_off` seconds, and
--     starts again only when its minimum plus `start_margin` amps fit.
--
-- settings:
--   min_on        seconds a started car keeps its place (120)
--   min_off       seconds a paused car stays paused (30)
--   start_margin  amps above min needed to (re)start a car (1)

return {
  name = "priority",

  allocate = function(site)
    local cfg = site.config
    local min_on, min_off = cfg.min_on or 120, cfg.min_off or 30
    local start_margin = cfg.start_margin or 1
    local now = site.time
    local memory = site.memory
    memory.on = memory.on or {}
    memory.since = memory.since or {}
    local chargers = site.chargers

    -- Group the candidates by priority; note who is protected and who must wait.
    local groups, levels = {}, {}
    local protected, extra = {}, {}
    for _, i in ipairs(fusebox.wanting(site)) do
      local c = chargers[i]
      local on, since = memory.on[c.id], memory.since[c.id]
      local blocked = (not on) and since ~= nil and memory.was_on and memory.was_on[c.id]
                      and now - since < min_off
      if not blocked then
        if on and since and now - since < min_on then protected[#protected + 1] = i end
        if not on then extra[i] = start_margin end
        local p = c.priority
        if not groups[p] then groups[p] = {}; levels[#levels + 1] = p end
        local g = groups[p]
        g[#g + 1] = i
      end
    end
    table.sort(levels, function(a, b) return a > b end)

    -- Protected cars hold their minimum before anyone else is admitted: one
    -- fill capped at each one's minimum admits those that still fit.
    local reserved = {}
    if #protected > 0 then
      local at_min = {}
      for _, i in ipairs(protected) do at_min[i] = chargers[i].min end
      local held = fusebox.fill(site, protected, { upper = at_min })
      for _, i in ipairs(protected) do
        if held[chargers[i].id] > 0 then reserved[i] = chargers[i].min end
      end
    end

    local out, given = {}, {}
    for _, p in ipairs(levels) do
      local group = groups[p]
      -- This group's own reservations are released: it shares among itself.
      local fixed = {}
      for i, amps in pairs(reserved) do fixed[i] = amps end
      for i, amps in pairs(given) do fixed[i] = amps end
      for _, i in ipairs(group) do fixed[i] = nil end
      -- Running cars first, then the longest waiting.
      table.sort(group, function(a, b)
        local ra, rb = reserved[a] and 0 or (memory.on[chargers[a].id] and 1 or 2),
                       reserved[b] and 0 or (memory.on[chargers[b].id] and 1 or 2)
        if ra ~= rb then return ra < rb end
        local sa, sb = memory.since[chargers[a].id] or now, memory.since[chargers[b].id] or now
        if sa ~= sb then return sa < sb end
        return a < b
      end)
      local share = fusebox.fill(site, group, { fixed = fixed, start_extra = extra })
      for _, i in ipairs(group) do
        local amps = share[chargers[i].id]
        out[chargers[i].id] = amps
        if amps > 0 then given[i] = amps end
        reserved[i] = nil
      end
    end

    -- Remember who runs, since when, and who was stopped (for min_off).
    memory.was_on = memory.was_on or {}
    for _, c in ipairs(chargers) do
      local on = (out[c.id] or 0) > 0
      if out[c.id] == nil and not c.eligible then on = false end
      if memory.since[c.id] == nil or (memory.on[c.id] or false) ~= on then
        memory.since[c.id] = now
        memory.was_on[c.id] = memory.on[c.id] and true or nil
      end
      memory.on[c.id] = on or nil
      if c.status == "free" then memory.since[c.id], memory.was_on[c.id] = nil, nil end
    end
    return out
  end,
}
