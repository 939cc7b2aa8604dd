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
    -- Per charger index: on (given current), since (when that last changed),
    -- was_on (its last switch was off: it is pausing). Kept by index, so that
    -- the loops below index arrays (docs/policies.md).
    local switches = fusebox.switches(site, site.memory)
    local running, since, was_on = switches.on, switches.since, switches.was_on
    local chargers = site.chargers

    -- Group the candidates by priority and rank them within it: running cars
    -- first, then the longest waiting (then by index). Note who is protected
    -- and who must wait. The rank (1 running, 2 waiting) and the time since
    -- make one sort key, rank x 1e10 + since: one table of
    -- the candidates a cycle instead of two, made with room for every charger
    -- (a table filled key by key grows by doubling, rehashing each time).
    local groups, levels = {}, {}
    local protected = {}
    local order = table.create(#chargers)
    local want = fusebox.wanting(site)
    for k = 1, #want do
      local i = want[k]
      local on, t = running[i], since[i]
      local blocked = (not on) and t ~= nil and was_on[i] and now - t < min_off
      if not blocked then
        if on then
          order[i] = 1e10 + (t or now)
          if t and now - t < min_on then protected[#protected + 1] = i end
        else
          order[i] = 2e10 + (t or now)
        end
        local p = chargers[i].priority
        local g = groups[p]
        if not g then g = {}; groups[p] = g; levels[#levels + 1] = p end
        g[#g + 1] = i
      end
    end
    table.sort(levels, function(a, b) return a > b end)

    -- Each priority shares what the ones above it left. Protected cars hold
    -- their minimum before anyone else is admitted, those that still fit in
    -- turn, and go first in their group: what they hold counts against the
    -- groups above theirs (fill_in_turn's `hold`).
    local in_turn = {}
    for k = 1, #levels do
      local group = groups[levels[k]]
      fusebox.sort(group, order)
      in_turn[k] = group
    end
    -- A car that is not running needs start_margin amps more than its minimum.
    local out = fusebox.fill_in_turn(site, in_turn,
      { hold = protected, start_extra = start_margin, running = running })

    -- Remember who runs, since when, and who was stopped (for min_off).
    fusebox.record_switches(site, site.memory, out)
    return out
  end,
}
