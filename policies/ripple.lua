-- ripple: the utility's ripple-control signal (section 14a EnWG in Germany).
--
--   normal   passes everything through;
--   reduced  caps the ripple group's EV power at `reduced_power` W;
--   locked   gives every charger of the group 0.
-- The safety clamp enforces reduced and locked as well; this stage tells the
-- stages after it, so that they share the reduced power sensibly.
--
-- settings:
--   reduced_power  W for the whole group while reduced (default: the section 14a
--                  floor, 4.2 kW + (n - 1) x f x 4.2 kW for n chargers, as the host
--                  computes it in site.ripple_power)

return {
  name = "ripple",

  allocate = function(site)
    local out, limits = {}, {}
    local group = site.ripple_group
    if site.ripple == "locked" then
      for _, i in ipairs(group) do out[site.chargers[i].id] = 0 end
    elseif site.ripple == "reduced" then
      local watts = site.config.reduced_power or site.ripple_power
      local limit = fusebox.power_limit(site, "ripple reduced", watts, group)
      limits[1] = limit
      if site.last_stage then fusebox.add_limit(site, limit) end
    elseif site.ripple ~= "normal" then
      error("ripple: unknown mode " .. tostring(site.ripple))
    end
    if site.last_stage then
      local share = fusebox.fill(site, fusebox.wanting(site), { upper = nil })
      for id, amps in pairs(share) do
        if out[id] == nil then out[id] = amps end
      end
    end
    return out, limits
  end,
}
