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
    memory.was_on = memory.was_on or {}
    local running, since, was_on = memory.on, memory.since, memory.was_on
    local chargers = site.chargers

    -- Group the candidates by priority; note who is protected and who must wait.
    local groups, levels = {}, {}
    local protected, extra = {}, {}
    for _, i in ipairs(fusebox.wanting(site)) do
      local c = chargers[i]
      local id = c.id
      local on, t = running[id], since[id]
      local blocked = (not on) and t ~= nil and was_on[id] and now - t < min_off
      if not blocked then
        if on and t and now - t < min_on then protected[#protected + 1] = i end
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

    -- Each priority shares what the ones above it left; what is reserved for
    -- the protected cars of the groups below counts against it (fill_in_turn).
    local in_turn = {}
    for k, p in ipairs(levels) do
      local group = groups[p]
      -- Running cars first, then the longest waiting (then by index).
      local rank, waited = {}, {}
      for _, i in ipairs(group) do
        local id = chargers[i].id
        rank[i] = reserved[i] and 0 or (running[id] and 1 or 2)
        waited[i] = since[id] or now
      end
      fusebox.sort(group, rank, waited)
      in_turn[k] = group
    end
    local out = fusebox.fill_in_turn(site, in_turn, { reserved = reserved, start_extra = extra })

    -- Remember who runs, since when, and who was stopped (for min_off).
    for _, c in ipairs(chargers) do
      local id = c.id
      local given = out[id]
      local on = given ~= nil and given > 0
      if since[id] == nil or (running[id] or false) ~= on then
        since[id] = now
        was_on[id] = running[id] and true or nil
      end
      running[id] = on or nil
      if c.status == "free" then since[id], was_on[id] = nil, nil end
    end
    return out
  end,
}
