-- site-policies/boss_first.lua
return {
  name = "boss_first",
  allocate = function(site)
    local out = {}
    for i = 1, 3 do
      if site.grid.current[i] > (site.config.quiet_above or 50) then
        for _, c in ipairs(site.chargers) do out[c.id] = 0 end
        return out
      end
    end
    local want = fusebox.wanting(site)
    local boss, others = {}, {}
    for _, i in ipairs(want) do
      if site.chargers[i].id == site.config.boss then boss[#boss + 1] = i
      else others[#others + 1] = i end
    end
    -- The boss first, up to its max; then everyone else shares the rest.
    local first = fusebox.fill(site, boss)
    local fixed = {}
    for _, i in ipairs(boss) do fixed[i] = first[site.chargers[i].id] end
    local rest = fusebox.fill(site, others, { fixed = fixed })
    for id, amps in pairs(first) do out[id] = amps end
    for id, amps in pairs(rest) do out[id] = amps end
    return out
  end,
}
