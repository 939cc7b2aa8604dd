-- Generic Modbus meter: every register, encoding and scale comes from the
-- device's configuration, so an unlisted grid or PV meter needs no new script
-- (the charger is generic_modbus).
--
-- settings (site.yaml, under the meter):
--   current:     { table: ir, address: 6, type: float32, count: 3, stride: 2 }  A on L1, L2, L3 (required)
--   voltage:     { table: ir, address: 0, type: float32, count: 3 }             V
--   phase_power: { table: ir, address: 12, type: float32, count: 3 }            W, + = import
--   power:       { table: ir, address: 52, type: float32 }                      W, + = import
--                (without it: the sum of phase_power, when that is configured)
--   energy:      { table: ir, address: 72, type: float32 }                      kWh after scale (import)
--   current_is_magnitude: true   the current registers hold magnitudes (as an SDM630's do):
--                                each phase takes the sign of its power (phase_power required)
--   export_positive: true        the meter counts export as positive: every sign is turned
--
-- A spec is { table = hr|ir (hr), address, type (uint16), order (high_first),
-- scale (1), count, stride (the type's size) }: see fusebox.read_values.

local function read(dev, key, count)
  local spec = dev.config[key]
  if spec == nil then return nil end
  local values, err = fusebox.read_values(dev, spec, count)
  if not values then return nil, "settings." .. key .. ": " .. err end
  return values
end

return {
  name = "generic_meter",
  kind = "meter",

  poll = function(dev)
    local cfg = dev.config
    if type(cfg.current) ~= "table" then
      return nil, "settings.current is required: the registers of the current on L1, L2, L3"
    end
    local out, err = {}, nil
    out.current, err = read(dev, "current", 3)
    if not out.current then return nil, err end
    if #out.current ~= 3 then return nil, "settings.current: 3 phases expected, count is " .. #out.current end
    for _, key in ipairs({ "voltage", "phase_power" }) do
      if cfg[key] ~= nil then
        out[key], err = read(dev, key, 3)
        if not out[key] then return nil, err end
      end
    end
    for _, key in ipairs({ "power", "energy" }) do
      if cfg[key] ~= nil then
        local v
        v, err = read(dev, key, 1)
        if not v then return nil, err end
        out[key] = v[1]
      end
    end
    if out.power == nil and out.phase_power then
      out.power = out.phase_power[1] + out.phase_power[2] + out.phase_power[3]
    end
    local sign = cfg.export_positive and -1 or 1
    if cfg.current_is_magnitude then
      if not out.phase_power then return nil, "settings.current_is_magnitude needs settings.phase_power for the signs" end
      for k = 1, 3 do
        local p = out.phase_power[k] * sign
        out.current[k] = math.abs(out.current[k]) * (p < 0 and -1 or 1)
      end
    end
    if sign < 0 then
      for k = 1, 3 do
        if not cfg.current_is_magnitude then out.current[k] = -out.current[k] end
        if out.phase_power then out.phase_power[k] = -out.phase_power[k] end
      end
      if out.power then out.power = -out.power end
    end
    return out
  end,
}
