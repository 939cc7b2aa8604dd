-- ABB Terra AC wallbox (firmware >= 1.6.5), Modbus TCP or RTU, unit 1.
--
-- Register map: state in HR 0x400C (2 registers), byte 2 & 0x7F:
-- 0 = A (no car), 1-3 = B (connected), 4 = C (charging), 5 = stopped (then the
-- socket lock, HR 0x400A >= 0x0101, tells B from A). Currents at 0x4010
-- (3 x uint32 mA), power 0x401C (uint32 W), session energy 0x401E (uint32 Wh).
-- The limit is HR 0x4100, uint32 mA, written with FC16; 0 disables.
-- The charger has no Modbus watchdog register to feed (0x4102 "not supported").

local function status_of(state, locked)
  if state == 0 then return "free" end
  if state >= 1 and state <= 3 then return "occupied" end
  if state == 4 then return "charging" end
  if state == 5 then return locked and "occupied" or "free" end
  return "unavailable"
end

return {
  name = "abb_terra",
  kind = "charger",

  -- Its serial number (HR 0x4000, four registers) is set, and its state byte
  -- (HR 0x400D) is a small number: a device of another make reads zeros
  -- there, or refuses the address.
  identify = function(dev)
    local r = dev:read_holding(0x4000, 14)        -- 0x4000..0x400D
    if not r then return nil end
    local serial = string.format("%04X%04X%04X%04X", r[1], r[2], r[3], r[4])
    if serial == "0000000000000000" or ((r[14] >> 8) & 0x7F) > 15 then return nil end
    return { make = "ABB", model = "Terra AC", serial = serial }
  end,

  poll = function(dev)
    local s, err = dev:read_holding(0x400A, 4)     -- 0x400A lock, 0x400B, 0x400C..0x400D state
    if not s then return nil, err end
    local state = (s[4] >> 8) & 0x7F               -- byte 2 of the two state registers
    local locked = s[1] >= 0x0101
    local m, err2 = dev:read_holding(0x4010, 16)   -- 0x4010..0x401F
    if not m then return nil, err2 end
    local current = {}
    for k = 0, 2 do current[k + 1] = fusebox.decode(m, 1 + 2 * k, "uint32", "high_first", 0.001) end
    return {
      status = status_of(state, locked),
      current = current,
      power = fusebox.decode(m, 13, "uint32"),            -- 0x401C
      energy = fusebox.decode(m, 15, "uint32", "high_first", 0.001),  -- 0x401E, Wh -> kWh
    }
  end,

  apply = function(dev, amps)
    local ok, err = dev:write_registers(0x4100, fusebox.encode(math.floor(amps * 1000), "uint32"))
    if not ok then return nil, err end
    return true
  end,
}
