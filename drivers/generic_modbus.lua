-- Generic Modbus charger: every register, encoding and status value comes
-- from the device's configuration, so an unlisted charger needs no new script
-- Meters: generic_meter.
--
-- config (site.yaml, under the device's settings):
--   status:  { table: hr|ir, address: 100, type: uint16, map: { "0": free, "1": occupied, "2": charging } }
--            (or letters: true for an IEC 61851 letter in the low byte)
--   current: { table: ir, address: 1008, type: uint16, order: high_first, scale: 0.001, count: 3, stride: 2 }
--   voltage, power, energy: { table, address, type, order, scale }  (energy in kWh after scale)
--   limit:   { address: 5004, type: uint16, order: high_first, scale: 1, fc: 6 | 16 }
--   enable:  { coil: 400 }                   (optional: a coil set true to charge, false at 0 A)

local letters = { A = "free", B = "occupied", C = "charging", D = "charging", E = "unavailable", F = "unavailable" }

local function value(dev, spec)
  local r, err = fusebox.read_values(dev, spec, 1)
  if not r then return nil, err end
  return r[1]
end

return {
  name = "generic_modbus",
  kind = "charger",

  poll = function(dev)
    local cfg, out = dev.config, {}
    if cfg.status then
      local raw, err = value(dev, cfg.status)
      if raw == nil then return nil, err end
      if cfg.status.letters then
        out.status = letters[string.char(math.floor(raw) & 0xFF)] or "unavailable"
      else
        out.status = (cfg.status.map or {})[tostring(math.floor(raw))] or "unavailable"
      end
    end
    if cfg.current then
      local err
      out.current, err = fusebox.read_values(dev, cfg.current, 3)
      if not out.current then return nil, err end
    end
    for _, key in ipairs({ "power", "energy" }) do
      if cfg[key] then
        local v, err = value(dev, cfg[key])
        if v == nil then return nil, err end
        out[key] = v
      end
    end
    return out
  end,

  apply = function(dev, amps)
    local l = dev.config.limit
    if not l then return nil, "generic_modbus: no limit register configured" end
    local regs = fusebox.encode(amps, l.type or "uint16", l.order, l.scale)
    local ok, err
    if (l.fc or 16) == 6 and #regs == 1 then ok, err = dev:write_register(l.address, regs[1])
    else ok, err = dev:write_registers(l.address, regs) end
    if not ok then return nil, err end
    local e = dev.config.enable
    if e and e.coil then return dev:write_coil(e.coil, amps > 0) end
    return true
  end,
}
