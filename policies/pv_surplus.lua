-- pv_surplus: charge from the sun.
--
-- Narrows the EV power to the PV surplus (site.pv.surplus: what the site
-- exports plus what the cars draw now) for the stages after it, or shares it
-- out itself when it is the last stage.
--
-- modes:
--   pv     surplus only. Charging switches on when the surplus stays at or above
--          `on_power` for `on_delay` seconds, and off when it stays below
--          `off_power` for `off_delay` seconds. While on, the cars keep at least
--          the minimum of one car, so a passing cloud does not stop them.
--   minpv  every waiting car always gets its minimum; the surplus adds to it.
--
-- settings (defaults from docs/design.md, field facts):
--   mode       "pv" | "minpv"   ("pv")
--   on_power   W                (1400: 6 A on one phase)
--   on_delay   s                (60)
--   off_power  W                (the least one waiting car can charge with)
--   off_delay  s                (120)

-- The least power one waiting car can charge with, and all of them at their
-- minimum: min x volts.
local function min_power(site, want)
  if #want == 0 then return 0, 0 end
  local chargers = site.chargers
  local least, total = math.huge, 0
  for k = 1, #want do
    local c = chargers[want[k]]
    local w = c.min * c.volts
    if w < least then least = w end
    total = total + w
  end
  return least, total
end

return {
  name = "pv_surplus",

  allocate = function(site)
    local cfg, memory = site.config, site.memory
    local mode = cfg.mode or "pv"
    if mode ~= "pv" and mode ~= "minpv" then
      error("pv_surplus: mode must be \"pv\" or \"minpv\", got " .. tostring(mode))
    end
    local surplus = site.pv and site.pv.surplus or 0
    local want = fusebox.wanting(site)
    local least, all_min = min_power(site, want)
    local now = site.time

    local cap
    if mode == "minpv" then
      cap = math.max(surplus, all_min)
    else
      local on_power = cfg.on_power or 1400
      local off_power = cfg.off_power or least
      local on_delay, off_delay = cfg.on_delay or 60, cfg.off_delay or 120
      if memory.active then
        if surplus < off_power then
          memory.low_since = memory.low_since or now
          if now - memory.low_since >= off_delay then memory.active = nil; memory.low_since = nil end
        else
          memory.low_since = nil
        end
      else
        if surplus >= on_power then
          memory.high_since = memory.high_since or now
          if now - memory.high_since >= on_delay then memory.active = true; memory.high_since = nil end
        else
          memory.high_since = nil
        end
      end
      cap = memory.active and math.max(surplus, least) or 0
    end

    local limit = fusebox.power_limit(site, "pv surplus", cap)
    local out = {}
    if site.last_stage then
      fusebox.add_limit(site, limit)
      out = fusebox.fill(site, want)
    elseif cap <= 0 then
      for _, i in ipairs(want) do out[site.chargers[i].id] = 0 end
    end
    -- The host binds the stages after this one by the limit; the last stage
    -- has none after it, and its own fill kept the limit already.
    if site.last_stage then return out end
    return out, { limit }
  end,
}
