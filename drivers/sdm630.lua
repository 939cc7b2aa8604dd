-- Eastron SDM630: the building's grid meter (Modbus RTU or TCP).
--
-- Every value is an IEEE float32, high word first, in input registers (FC04):
-- voltages L1..L3 at 0x0000, currents at 0x0006, active powers at 0x000C,
-- import energy at 0x0048. The meter reports current
-- magnitudes; a phase's current is signed by its power (negative = export).

return {
  name = "sdm630",
  kind = "meter",

  -- Three phase voltages a low-voltage grid has (IR 0x0000, float32).
  identify = function(dev)
    local r = dev:read_input(0x0000, 6)
    if not r then return nil end
    for k = 0, 2 do
      local v = fusebox.decode(r, 1 + 2 * k, "float32")
      if not (v >= 180 and v <= 270) then return nil end
    end
    return { make = "Eastron", model = "SDM630" }
  end,

  poll = function(dev)
    local r, err = dev:read_input(0x0000, 18)   -- V1..V3, I1..I3, P1..P3
    if not r then return nil, err end
    local e, err2 = dev:read_input(0x0048, 2)   -- import energy, kWh
    if not e then return nil, err2 end
    local voltage, current, power = {}, {}, {}
    local total = 0
    for k = 0, 2 do
      voltage[k + 1] = fusebox.decode(r, 1 + 2 * k, "float32")
      local amps = fusebox.decode(r, 7 + 2 * k, "float32")
      power[k + 1] = fusebox.decode(r, 13 + 2 * k, "float32")
      current[k + 1] = power[k + 1] < 0 and -math.abs(amps) or math.abs(amps)
      total = total + power[k + 1]
    end
    return { voltage = voltage, current = current, phase_power = power, power = total,
             energy = fusebox.decode(e, 1, "float32") }
  end,
}
